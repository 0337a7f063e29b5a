package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net"

	"github.com/celltrack/celltrack/web"
)

// demoServe shows `celltrack serve` briefly: the web application on the
// demo database, on a free loopback port, asked what a load balancer, a
// nurse's browser and an auditor's script ask, then stopped.
func demoServe(d *demo) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo serve: %w", err)
	}
	url := "http://" + ln.Addr().String()
	srv := webApp(d.db, false, log.New(io.Discard, "", 0)).HTTPServer(ln.Addr().String())
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	d.say("\nserve: the web application on this database at %s (for a while; `celltrack serve` keeps it up)", url)
	c, err := web.NewClient(url, nil, "")
	if err != nil {
		return err
	}
	// ask answers the HTTP status: 2xx for an answer, the error object's
	// status for a refusal.
	ask := func(method, path, body string) (int, string, error) {
		var in any
		if body != "" {
			in = json.RawMessage(body)
		}
		data, _, _, err := c.Call(method, path, in)
		if f, ok := web.IsAPIFailure(err); ok {
			return web.HTTPStatus[f.Err.Code], string(data), nil
		}
		if err != nil {
			return 0, "", fmt.Errorf("demo serve %s %s: %w", method, path, err)
		}
		return 200, string(data), nil
	}
	steps := []struct{ method, path, body, what string }{
		{"GET", "/healthz", "", "health check for a load balancer"},
		{"POST", "/api/v1/login", `{"user":"nina","password":"` + demoPassword + `"}`, "nurse nina logs in"},
		{"GET", "/bedside", "", "the bedside page"},
		{"GET", "/api/v1/trace/lot/LOT-UC-1?format=csv", "", "the forward trace of LOT-UC-1 as CSV"},
		{"POST", "/api/v1/logout", "", "nina logs out"},
		{"GET", "/api/v1/trace/lot/LOT-UC-1", "", "the same trace after logout"},
	}
	for _, s := range steps {
		st, body, err := ask(s.method, s.path, s.body)
		if err != nil {
			return err
		}
		d.say("  %-4s %-40s %d  %s (%d bytes)", s.method, s.path, st, s.what, len(body))
	}
	return nil
}
