package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/distill-ml/distill/distill/engine"
	"github.com/distill-ml/distill/distill/serve"
	"github.com/distill-ml/distill/model/runtime"
)

func newServeCmd(a *app) *cobra.Command {
	var (
		model, addr string
		parallel    int
		ctxLen      int
	)
	cmd := &cobra.Command{
		Use:   "serve --model FILE.gguf [--addr 127.0.0.1:8080]",
		Short: "Serve a GGUF as an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions)",
		Long: "Runs the model on distill's runtime behind an OpenAI-compatible API with streaming and\n" +
			"logprobs/top_logprobs, so any OpenAI client (and `distill collect`) can use it. Listens on\n" +
			"loopback by default; SIGINT/SIGTERM shuts down gracefully.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" {
				return usagef("serve needs --model FILE.gguf")
			}
			if parallel < 1 {
				return usagef("--parallel must be >= 1")
			}
			if ctxLen < 0 {
				return usagef("--ctx must be >= 0")
			}
			m, err := engine.Load(model, runtime.Options{Context: ctxLen, Sessions: parallel})
			if err != nil {
				return err
			}
			defer m.Close()
			h, err := serve.New(m, serve.Options{Parallel: parallel, NewSampler: engine.Sampler})
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
			fmt.Fprintf(a.stdout, "serving %s (model id %q) on http://%s/v1\n", model, m.ModelID(), ln.Addr())
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return fmt.Errorf("serve: %w", err)
			case <-ctx.Done():
			}
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve: shutdown: %w", err)
			}
			fmt.Fprintln(a.stdout, "serve: stopped")
			return nil
		},
	}
	cmd.Flags().StringVar(&model, "model", "", "GGUF file to serve")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
	cmd.Flags().IntVar(&parallel, "parallel", 1, "requests decoded at once (each has its own KV cache)")
	cmd.Flags().IntVar(&ctxLen, "ctx", 0, fmt.Sprintf("context length cap in tokens, prompt + completion (default: the model's, up to %d)", runtime.DefaultContext))
	return cmd
}
