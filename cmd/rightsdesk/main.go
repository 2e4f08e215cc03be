// Command rightsdesk is the data-subject rights portal: one binary with
// subcommands (serve, migrate, version, ...). See `rightsdesk help`.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the operator's time zone must resolve even on minimal images

	"rightsdesk/internal/app"
	"rightsdesk/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], config.FromOS(), os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
