package main

import (
	"os"
	"testing"
	"time"
)

// TestProcessStartedReadsThisProcess: the start time read from /proc for
// this test's own process lies between the moment the test binary could
// have started and now, so that a marker written before it (a reused pid)
// is told apart from one its own server wrote after starting.
func TestProcessStartedReadsThisProcess(t *testing.T) {
	started, ok := processStarted(os.Getpid())
	if !ok {
		t.Fatal("the start of this very process cannot be read from /proc")
	}
	now := time.Now()
	if started.After(now.Add(markerSlack)) || started.Before(now.Add(-time.Hour)) {
		t.Errorf("this process started at %s, read from /proc; now is %s", started, now)
	}
	live := serverFile{PID: os.Getpid(), Started: now}
	reused := serverFile{PID: os.Getpid(), Started: started.Add(-time.Minute)}
	if !live.alive() || reused.alive() {
		t.Errorf("a marker written now by this process: alive=%v (want true); one written a minute before it started: alive=%v (want false)", live.alive(), reused.alive())
	}
	if _, ok := processStarted(2147483646); ok {
		t.Error("a pid no process has has a start time")
	}
}
