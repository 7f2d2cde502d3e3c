package storetest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Server is a PostgreSQL server of a test's own (initdb in a temporary
// directory, its own loopback port) that the test may stop and start, for
// fault tests. Use DB/FreshURL for everything else.
type Server struct {
	dir, bin string
	Port     int
	asUser   string
}

// NewServer initialises and starts a private PostgreSQL server; it is
// stopped and removed when t ends. It fails the test when the PostgreSQL
// server binaries are not installed (scripts/services.sh installs them).
func NewServer(t testing.TB) *Server {
	t.Helper()
	bin := pgBinDir()
	if bin == "" {
		t.Fatalf("storetest: PostgreSQL server binaries (initdb, pg_ctl) not found: run scripts/services.sh (or make test)")
	}
	s := &Server{dir: t.TempDir(), bin: bin}
	if os.Geteuid() == 0 {
		// initdb refuses to run as root.
		if _, err := user.Lookup("postgres"); err != nil {
			t.Fatalf("storetest: running as root needs a postgres user for initdb: %v", err)
		}
		s.asUser = "postgres"
		if err := exec.Command("chown", "-R", "postgres", s.dir).Run(); err != nil {
			t.Fatalf("storetest: chown %s: %v", s.dir, err)
		}
		_ = os.Chmod(filepath.Dir(s.dir), 0o755)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("storetest: pick a port: %v", err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	if out, err := s.run("initdb", "-D", s.data(), "-U", "postgres", "-A", "trust", "--no-sync"); err != nil {
		t.Fatalf("storetest: initdb: %v\n%s", err, out)
	}
	s.Start(t)
	t.Cleanup(func() { _, _ = s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "stop") })
	return s
}

func (s *Server) data() string { return filepath.Join(s.dir, "data") }

func (s *Server) run(tool string, args ...string) ([]byte, error) {
	cmd := filepath.Join(s.bin, tool)
	if s.asUser != "" {
		args = append([]string{"-u", s.asUser, "--", cmd}, args...)
		cmd = "runuser"
	}
	return exec.Command(cmd, args...).CombinedOutput()
}

// URL returns a URL of database on this server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// Start starts the server and waits until it accepts connections.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	opts := fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off", s.Port, s.dir)
	if out, err := s.run("pg_ctl", "-D", s.data(), "-o", opts, "-l", filepath.Join(s.dir, "log"), "-w", "-t", "30", "start"); err != nil {
		t.Fatalf("storetest: start PostgreSQL: %v\n%s", err, out)
	}
}

// Stop stops the server at once, dropping every connection.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if out, err := s.run("pg_ctl", "-D", s.data(), "-m", "immediate", "-w", "-t", "30", "stop"); err != nil {
		t.Fatalf("storetest: stop PostgreSQL: %v\n%s", err, out)
	}
	// Wait until the port is free so the next Start binds it.
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(s.Port), 100*time.Millisecond)
		if err != nil {
			return
		}
		_ = c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

func pgBinDir() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p)
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(matches) == 0 {
		return ""
	}
	// The newest version sorts last.
	best := matches[len(matches)-1]
	for _, m := range matches {
		if strings.Compare(m, best) > 0 {
			best = m
		}
	}
	return filepath.Dir(best)
}
