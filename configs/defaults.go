package configs

// Default sets *field to def when it holds its type's zero value (unset in
// the YAML): how a config's Defaults method fills the fields a file left out.
func Default[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}
