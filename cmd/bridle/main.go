// Command bridle is the Bridle egress gateway for AI agents: `bridle up`
// runs it, `bridle run -- CMD` runs an agent through it.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := newRootCmd(ctx, os.Getenv).Execute()
	atExit()
	var exit exitCode
	if errors.As(err, &exit) {
		os.Exit(int(exit))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridle:", err)
		os.Exit(1)
	}
}

// atExit runs before the process exits; the pprof build sets it
// (profile.go).
var atExit = func() {}

// exitCode is returned by commands that exit non-zero after printing their
// own explanation.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
