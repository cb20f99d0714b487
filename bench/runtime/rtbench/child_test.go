package rtbench

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"testing"
)

// The test binary doubles as the child: RTBENCH_TEST_CHILD selects what it
// prints first ("ok": an address line, then an echo of each stdin line).
func TestMain(m *testing.M) {
	switch os.Getenv("RTBENCH_TEST_CHILD") {
	case "ok":
		fmt.Println("addr 127.0.0.1:9")
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			fmt.Println("echo " + sc.Text())
		}
		os.Exit(0)
	case "bad":
		fmt.Println("no address here")
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestStartChild(t *testing.T) {
	c, err := StartChild("RTBENCH_TEST_CHILD=ok")
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "127.0.0.1:9" {
		t.Errorf("addr %q", c.Addr)
	}
	fmt.Fprintln(c.In, "rss")
	line, err := c.Out.ReadString('\n')
	if err != nil || line != "echo rss\n" {
		t.Errorf("reply %q, %v", line, err)
	}
	if err := c.Stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := StartChild("RTBENCH_TEST_CHILD=bad"); err == nil || !strings.Contains(err.Error(), "no address here") {
		t.Errorf("a child without an address line: %v", err)
	}
}
