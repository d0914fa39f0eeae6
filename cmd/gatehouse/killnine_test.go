package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/server"
)

// TestKillNineKeepsAcknowledgedWrites runs the server in a child process,
// has 8 clients write concurrently (so that writes share group commits),
// kills the child with SIGKILL mid-stream and checks that every write the
// server acknowledged is in the store.
func TestKillNineKeepsAcknowledgedWrites(t *testing.T) {
	if os.Getenv("GATEHOUSE_TEST_CHILD") == "serve" {
		err := run(context.Background(), []string{"serve"}, os.Getenv, io.Discard, os.Stderr)
		fmt.Fprintln(os.Stderr, "child server:", err)
		os.Exit(1)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	dir := t.TempDir()
	const pw = "kill-nine-admin-42"
	child := exec.Command(os.Args[0], "-test.run=^TestKillNineKeepsAcknowledgedWrites$")
	child.Env = append(os.Environ(), "GATEHOUSE_TEST_CHILD=serve", "GATEHOUSE_DATA_DIR="+dir, "GATEHOUSE_ADDR="+addr,
		"GATEHOUSE_ADMIN_PASSWORD="+pw, "GATEHOUSE_LOG_LEVEL=error", "GATEHOUSE_ACCESS_LOG=false")
	child.Stderr = os.Stderr
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	base := "http://" + addr + "/"
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := http.Get(base + "healthz"); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child server did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
	req, _ := http.NewRequest("POST", base+"api/user_tokens/generate", strings.NewReader("name=k"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", pw)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct{ Token string }
	_ = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()

	var mu sync.Mutex
	var acked []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				login := fmt.Sprintf("k%d-%d", w, i)
				body := fmt.Sprintf(`{"items":[{"login":%q,"name":%q}]}`, login, login)
				req, _ := http.NewRequest("POST", base+"api/bulk/create_users", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+tok.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					return // the server is gone
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					mu.Lock()
					acked = append(acked, login)
					mu.Unlock()
				}
			}
		})
	}
	time.Sleep(1500 * time.Millisecond)
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	close(stop)
	wg.Wait()

	cfg := server.DefaultConfig()
	cfg.DataDir = dir
	st, err := server.OpenStore(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	missing := 0
	for _, login := range acked {
		if _, err := st.GetUserByLogin(context.Background(), login); err != nil {
			missing++
		}
	}
	t.Logf("%d acknowledged writes before SIGKILL, %d missing", len(acked), missing)
	if len(acked) == 0 || missing != 0 {
		t.Fatalf("%d of %d acknowledged writes lost", missing, len(acked))
	}
}
