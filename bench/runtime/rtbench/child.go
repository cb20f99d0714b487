package rtbench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// Child is a copy of the running benchmark executable started as a server
// in its own process, so its CPU time and memory are measured apart from
// the client's. The child prints "addr ADDR" as its first line, then
// answers on stdout whatever it is asked on stdin, and exits when stdin
// closes.
type Child struct {
	Cmd  *exec.Cmd
	Addr string         // from the child's first line
	In   io.WriteCloser // the child's stdin
	Out  *bufio.Reader  // the child's stdout after the first line
}

// StartChild runs this executable again with env added to its environment
// (the child recognises its role from it) and waits for its address line.
func StartChild(env ...string) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out := bufio.NewReader(pipe)
	line, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "addr ") {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("server child printed %q: %v", line, err)
	}
	return &Child{Cmd: cmd, Addr: strings.TrimSpace(strings.TrimPrefix(line, "addr ")), In: in, Out: out}, nil
}

// Stop closes the child's stdin and waits for it to exit.
func (c *Child) Stop() error {
	c.In.Close()
	return c.Cmd.Wait()
}
