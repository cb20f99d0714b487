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
	"github.com/distill-ml/distill/model/infer"
)

// apiKeyEnv is the environment variable `distill serve` reads its API key
// from when --api-key is not given (a flag shows in `ps`, the environment
// does not).
const apiKeyEnv = "DISTILL_API_KEY"

func newServeCmd(a *app) *cobra.Command {
	var (
		model, addr, apiKey         string
		parallel, maxQueue          int
		maxBody                     int64
		requestTimeout, readTimeout time.Duration
		idleTimeout                 time.Duration
		ctxLen                      int
	)
	cmd := &cobra.Command{
		Use:   "serve --model FILE.gguf [--addr 127.0.0.1:8080]",
		Short: "Serve a GGUF as an OpenAI-compatible HTTP API (/v1/models, /v1/completions, /v1/chat/completions)",
		Long: "Runs the model on distill's runtime behind an OpenAI-compatible API with streaming and\n" +
			"logprobs/top_logprobs, so any OpenAI client (and `distill collect`) can use it. Listens on\n" +
			"loopback by default; SIGINT/SIGTERM shuts down gracefully.\n\n" +
			"With an API key (--api-key, or $" + apiKeyEnv + ") every endpoint but GET /health needs\n" +
			"\"Authorization: Bearer KEY\". Requests beyond --parallel decoding and --max-queue waiting get\n" +
			"429 with Retry-After; each request must finish within --request-timeout (504).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if model == "" {
				return usagef("serve needs --model FILE.gguf")
			}
			if parallel < 1 {
				return usagef("--parallel must be >= 1")
			}
			if maxQueue < 1 {
				return usagef("--max-queue must be >= 1")
			}
			if maxBody < 1 {
				return usagef("--max-body-bytes must be >= 1")
			}
			for _, d := range []struct {
				flag string
				v    time.Duration
			}{{"--request-timeout", requestTimeout}, {"--read-timeout", readTimeout}, {"--idle-timeout", idleTimeout}} {
				if d.v <= 0 {
					return usagef("%s must be > 0", d.flag)
				}
			}
			if apiKey == "" {
				apiKey = os.Getenv(apiKeyEnv)
			}
			if ctxLen < 0 {
				return usagef("--ctx must be >= 0")
			}
			m, err := engine.Load(model, infer.Options{Context: ctxLen, Sessions: parallel})
			if err != nil {
				return err
			}
			defer m.Close()
			h, err := serve.New(m, serve.Options{Parallel: parallel, NewSampler: engine.Sampler, MaxQueue: maxQueue,
				MaxBodyBytes: maxBody, RequestTimeout: requestTimeout, ReadTimeout: readTimeout, IdleTimeout: idleTimeout,
				APIKey: apiKey})
			if err != nil {
				return usagef("%v", err)
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			srv := h.HTTPServer()
			auth := "no API key"
			if apiKey != "" {
				auth = "bearer API key required"
			}
			fmt.Fprintf(a.stdout, "serving %s (model id %q) on http://%s/v1 (%s)\n", model, m.ModelID(), ln.Addr(), auth)
			if w := exposureWarning(ln.Addr(), apiKey != ""); w != "" {
				fmt.Fprintln(a.stderr, w)
			}
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
	cmd.Flags().StringVar(&apiKey, "api-key", "", "require \"Authorization: Bearer KEY\" (default $"+apiKeyEnv+"; prefer the variable: flags show in ps)")
	cmd.Flags().IntVar(&maxQueue, "max-queue", serve.DefaultMaxQueue, "requests that may wait for a decode slot; more get 429 with Retry-After")
	cmd.Flags().Int64Var(&maxBody, "max-body-bytes", serve.DefaultMaxBodyBytes, "largest request body")
	cmd.Flags().DurationVar(&requestTimeout, "request-timeout", serve.DefaultRequestTimeout, "deadline of a request from its arrival: waiting, decoding, writing (504 beyond)")
	cmd.Flags().DurationVar(&readTimeout, "read-timeout", serve.DefaultReadTimeout, "time to receive a request's headers and body (408 and disconnect beyond)")
	cmd.Flags().DurationVar(&idleTimeout, "idle-timeout", serve.DefaultIdleTimeout, "how long an idle keep-alive connection stays open")
	cmd.Flags().IntVar(&ctxLen, "ctx", 0, fmt.Sprintf("context length cap in tokens, prompt + completion (default: the model's, up to %d)", infer.DefaultContext))
	return cmd
}

// exposureWarning is the warning for serving beyond loopback without an API
// key ("" when there is nothing to warn about).
func exposureWarning(addr net.Addr, keyed bool) string {
	tcp, ok := addr.(*net.TCPAddr)
	if keyed || ok && tcp.IP.IsLoopback() {
		return ""
	}
	return fmt.Sprintf("serve: warning: listening on %s, beyond loopback, without an API key: anyone who can reach it can use the model; set $%s (or --api-key)", addr, apiKeyEnv)
}
