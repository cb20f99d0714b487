package serve

// Queued is how many generation requests wait for a decode slot.
func (s *Server) Queued() int { return int(s.queued.Load()) }
