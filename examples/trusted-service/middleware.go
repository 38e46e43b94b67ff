package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"time"
)

// invocationIDHeader is the header the Functions host adds to every request
// it forwards to the handler.
const invocationIDHeader = "X-Azure-Functions-InvocationId"

// withLogging gives each request a logger carrying its Functions invocation
// ID (or, outside Functions, a random request ID), logs one line when it
// ends, and turns a panic into a 500. It never logs the query string (it
// may hold the Functions key, ?code=), headers or bodies.
func withLogging(base *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		l := base
		if id := r.Header.Get(invocationIDHeader); id != "" {
			if len(id) > 64 {
				id = id[:64]
			}
			l = l.With("invocation_id", id)
		} else {
			l = l.With("request_id", newRequestID())
		}
		st := &requestState{logger: l}
		r = r.WithContext(context.WithValue(r.Context(), loggerKey, st))
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				logger(r.Context()).Error("panic", "panic", p)
				if !sw.wrote {
					writeError(sw, http.StatusInternalServerError, "InternalError", "The request could not be processed.")
				}
			}
			level := slog.LevelInfo
			if r.URL.Path == "/" {
				level = slog.LevelDebug // the host's readiness polls
			}
			logger(r.Context()).Log(r.Context(), level, "request",
				"method", r.Method, "path", r.URL.Path, "status", sw.status,
				"duration_ms", time.Since(start).Milliseconds())
		}()
		next.ServeHTTP(sw, r)
	})
}

func newRequestID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// statusWriter records the status a handler sent.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
