package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/lorasweep/lorasweep/reports"
)

func newServeCmd() *cobra.Command {
	var dsn, name, addr string
	var refresh time.Duration
	cmd := &cobra.Command{
		Use:   "serve --sweep NAME [--addr 127.0.0.1:8080]",
		Short: "Serve a sweep's report live, with star ratings and pairwise picks",
		Long: `Serve the report's views live while a sweep runs (the page reloads itself),
plus two rating pages: stars per trial (/rate) and "which is better" over two
trials' sample grids (/compare). Ratings are stored with the sweep; they never
change a trial's value, and an objective with a {kind: rating} scorer uses them
to re-rank finished trials.

It listens on loopback (127.0.0.1:8080) unless --addr says otherwise; anyone
who can reach a non-loopback address can read the report and rate trials.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			store, _, id, err := openSweep(cmd, dsn, name)
			if err != nil {
				return err
			}
			defer store.Close()
			logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			loopback := reports.IsLoopbackAddr(addr)
			srv, err := reports.NewServer(store, id, reports.ServerOptions{Refresh: refresh, LoopbackOnly: loopback, Logger: logger})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return usageError{fmt.Errorf("listen on %s: %w", addr, err)}
			}
			if !loopback {
				// The rating pages hand their token to whoever loads them, so
				// reaching the address is enough to rate trials too.
				logger.Warn("serving on a non-loopback address: anyone who reaches it can read the report and rate trials", "addr", ln.Addr().String())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "serving sweep %q on http://%s/ (Ctrl-C stops)\n", name, ln.Addr())
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return srv.Serve(ctx, ln)
		},
	}
	addStorageFlag(cmd, &dsn)
	cmd.Flags().StringVar(&name, "sweep", "", "sweep name")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (loopback unless you say otherwise)")
	cmd.Flags().DurationVar(&refresh, "refresh", 30*time.Second, "how often the report page reloads")
	return cmd
}
