package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the README's commands call this test binary as
// ./gatehouse (a wrapper script sets GATEHOUSE_TEST_AS_MAIN): the doc test
// needs no separate build and runs in seconds.
func TestMain(m *testing.M) {
	if os.Getenv("GATEHOUSE_TEST_AS_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// docBlock is a ```console block of the README marked to run, with its
// commands ("$ " lines, continued by a trailing backslash) and the output
// shown under each.
type docBlock struct {
	kind  string // "" (run in order), "server" (serve in the background), "ran-before"
	line  int
	steps []docStep
}

type docStep struct {
	line int
	cmd  string
	want string
}

var doctestMark = regexp.MustCompile(`^<!-- doctest(?:: ([a-z-]+))? -->$`)

// readmeBlocks reads the marked blocks of the README.
func readmeBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	var blocks []docBlock
	for i := 0; i < len(lines); i++ {
		m := doctestMark.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		if i+1 >= len(lines) || lines[i+1] != "```console" {
			t.Fatalf("README.md:%d: a doctest mark must be followed by a ```console block", i+1)
		}
		blk := docBlock{kind: m[1], line: i + 1}
		var cur *docStep
		for i += 2; i < len(lines) && lines[i] != "```"; i++ {
			l := lines[i]
			switch {
			case cur != nil && strings.HasSuffix(cur.cmd, "\\"):
				cur.cmd += "\n" + l
			case strings.HasPrefix(l, "$ "):
				blk.steps = append(blk.steps, docStep{line: i + 1, cmd: strings.TrimPrefix(l, "$ ")})
				cur = &blk.steps[len(blk.steps)-1]
			case cur == nil:
				t.Fatalf("README.md:%d: output before any command", i+1)
			default:
				cur.want += l + "\n"
			}
		}
		blocks = append(blocks, blk)
	}
	return blocks
}

// readmeEnv is the environment of the README's commands: this machine's,
// without Gatehouse's variables or a proxy for curl, HOME in the test's
// directory (no ~/.curlrc).
func readmeEnv(dir, addr string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GATEHOUSE_") || strings.HasSuffix(strings.ToLower(k), "_proxy") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "HOME="+dir, "NO_PROXY=*", "GATEHOUSE_ADDR="+addr, "GATEHOUSE_LOG_LEVEL=warn")
}

// normalise keeps only what must not vary between runs: secrets,
// timestamps and the version become placeholders, the test's port is the
// README's.
func normalise(s, addr string) string {
	s = strings.ReplaceAll(s, addr, "localhost:9000")
	for _, r := range []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(`\b(gt[a-z])_[A-Za-z0-9]{20,}`), "${1}_SECRET"},
		{regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{4}`), "TIMESTAMP"},
		{regexp.MustCompile(`Gatehouse \S+ is serving`), "Gatehouse VERSION is serving"},
		{regexp.MustCompile(`(?m)^gatehouse \S+$`), "gatehouse VERSION"},
	} {
		s = r.re.ReplaceAllString(s, r.with)
	}
	return strings.TrimRight(s, "\n")
}

// readmeRun is one run of the README's commands in a fresh directory.
type readmeRun struct {
	t    *testing.T
	dir  string
	addr string
	env  []string
}

func newReadmeRun(t *testing.T) *readmeRun {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	wrapper := "#!/bin/sh\nGATEHOUSE_TEST_AS_MAIN=1 exec " + strconv.Quote(self) + " \"$@\"\n"
	if err := os.WriteFile(filepath.Join(dir, "gatehouse"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return &readmeRun{t: t, dir: dir, addr: addr, env: readmeEnv(dir, addr)}
}

// serve starts cmd (the README's serve line) in the background and waits
// until the server is ready; stop ends it and returns its stdout.
func (r *readmeRun) serve(cmd string) (stop func() string) {
	t := r.t
	var out, errOut bytes.Buffer
	c := exec.Command("bash", "-c", cmd)
	c.Dir, c.Env, c.Stdout, c.Stderr = r.dir, r.env, &out, &errOut
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- c.Wait() }()
	stopped := false
	stop = func() string {
		if !stopped {
			stopped = true
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		}
		return out.String()
	}
	t.Cleanup(func() { stop() })
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(30 * time.Second); ; {
		if resp, err := client.Get("http://" + r.addr + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return stop
			}
		}
		select {
		case err := <-exited:
			t.Fatalf("%q exited (%v) before it was ready:\n%s", cmd, err, errOut.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q not ready within 30s:\n%s", cmd, errOut.String())
		}
	}
}

// steps runs the commands in one bash session (so variables carry over),
// stdout and stderr together, and compares each command's output with the
// README's.
func (r *readmeRun) steps(steps []docStep) {
	t := r.t
	var script strings.Builder
	for i, s := range steps {
		cmd := strings.ReplaceAll(s.cmd, "localhost:9000", r.addr)
		fmt.Fprintf(&script, "%s\nprintf '\\n@@doctest %d %%d@@\\n' $?\n", cmd, i)
	}
	c := exec.Command("bash", "-c", script.String())
	c.Dir, c.Env = r.dir, r.env
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("README commands: %v\n%s", err, out)
	}
	marker := regexp.MustCompile(`^@@doctest (\d+) (\d+)@@$`)
	got := make([]string, len(steps))
	codes := make([]string, len(steps))
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if m := marker.FindStringSubmatch(sc.Text()); m != nil {
			i, _ := strconv.Atoi(m[1])
			got[i], codes[i] = cur.String(), m[2]
			cur.Reset()
			continue
		}
		cur.WriteString(sc.Text() + "\n")
	}
	for i, s := range steps {
		if codes[i] != "0" {
			t.Errorf("README.md:%d: %s\nexit status %q, output:\n%s", s.line, s.cmd, codes[i], got[i])
			continue
		}
		if g, w := normalise(got[i], r.addr), normalise(s.want, r.addr); g != w {
			t.Errorf("README.md:%d: %s\nREADME shows:\n%s\nthe command printed:\n%s", s.line, s.cmd, w, g)
		}
	}
}

// TestReadme runs the README's first-run story as written: the serve
// command on a fresh directory, then every marked block in order, each
// command's output compared with the one the README shows; and the story
// of someone who ran serve before (the store exists, the password
// variable is ignored, reset-password sets it).
func TestReadme(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but curl is missing: the README's commands need it")
		}
		t.Skip("curl is not installed: the README's commands need it")
	}
	if _, err := exec.LookPath("jq"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but jq is missing: the README's commands need it")
		}
		t.Skip("jq is not installed: the README's commands need it")
	}
	var server, ranBefore docBlock
	var story []docStep
	for _, b := range readmeBlocks(t, "../../README.md") {
		switch b.kind {
		case "server":
			server = b
		case "ran-before":
			ranBefore = b
		case "":
			story = append(story, b.steps...)
		default:
			t.Fatalf("README.md:%d: unknown doctest kind %q", b.line, b.kind)
		}
	}
	if len(server.steps) != 1 || len(ranBefore.steps) == 0 || len(story) < 10 {
		t.Fatalf("README.md: want one serve command, a ran-before block and the story; got %d, %d, %d commands", len(server.steps), len(ranBefore.steps), len(story))
	}

	t.Run("fresh", func(t *testing.T) {
		r := newReadmeRun(t)
		r.t = t
		stop := r.serve(server.steps[0].cmd)
		r.steps(story)
		if g, w := normalise(stop(), r.addr), normalise(server.steps[0].want, r.addr); g != w {
			t.Errorf("README.md:%d: %s\nREADME shows:\n%s\nthe server printed:\n%s", server.steps[0].line, server.steps[0].cmd, w, g)
		}
	})

	t.Run("ran before", func(t *testing.T) {
		r := newReadmeRun(t)
		r.t = t
		// An earlier start without the variable: a random password.
		stop := r.serve("./gatehouse serve")
		if out := stop(); !strings.Contains(out, "It is shown only this once") {
			t.Fatalf("first start printed %q", out)
		}
		stop = r.serve(server.steps[0].cmd)
		r.steps(ranBefore.steps)
		// The password works now: the story up to its first signed-in call.
		n := slices.IndexFunc(story, func(s docStep) bool { return strings.Contains(s.cmd, "api/authentication/validate") })
		if n < 0 {
			t.Fatal("README.md: the story has no api/authentication/validate call")
		}
		r.steps(story[:n+1])
		if out := stop(); !strings.Contains(out, "GATEHOUSE_ADMIN_PASSWORD is ignored: this store already has users") {
			t.Errorf("the second start does not say the password is ignored:\n%s", out)
		}
	})
}
