// Command ddnrs is the one DDNRS binary: nodes, the dev cluster and the
// zone owner's tools. Everything lives in package ops; see 'ddnrs --help'.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/ddnrs/ddnrs/ops"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := ops.Main(ctx, os.Args[1:])
	stop()
	os.Exit(int(code))
}
