// Command buildtools builds the Go programs the tests run (Pebble and
// legorun, internal/testtool.GoProgram) into testtool.ToolsDir, so that
// CI has them before the tests start; scripts/test-deps.sh runs it.
//
//	go run ./internal/testtool/buildtools
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ddnrs/ddnrs/internal/testtool"
)

func main() {
	for _, p := range []testtool.GoProgram{testtool.Pebble, testtool.Lego} {
		bin, err := p.Build(context.Background())
		if err != nil {
			fmt.Fprintf(os.Stderr, "buildtools: %s: %v\n", p.Name, err)
			os.Exit(1)
		}
		fmt.Println(bin)
	}
}
