package jobctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/reprocess/reprocess/assets"
	"github.com/reprocess/reprocess/assets/embedded"
	"github.com/reprocess/reprocess/reprocess/api"
	"github.com/reprocess/reprocess/reprocess/control"
)

// SocketName is the control socket's file name in the data dir.
const SocketName = "control.sock"

// maxPath is the longest socket path every Unix takes (104 on macOS).
const maxPath = 103

// Serve serves the control socket of s if it is an embedded store (which
// this process then holds), until stop; for other stores it does
// nothing. A socket it cannot serve is logged, not fatal: the job goes on
// and job commands elsewhere say the socket is missing.
func Serve(s assets.Store, log *slog.Logger) (stop func()) {
	e, ok := s.(*embedded.Store)
	if !ok {
		return func() {}
	}
	stop, err := Listen(e.Dir(), s, log)
	if err != nil {
		log.Warn("job commands from other processes cannot reach this one", "error", err)
		return func() {}
	}
	return stop
}

// Listen serves the job routes on s (api.Server.ControlHandler) on
// dir/control.sock, mode 0600, until stop, which removes the socket. The
// caller holds the store in dir, so a socket file there is one a killed
// holder left: it is replaced, unless something answers on it.
func Listen(dir string, s assets.Store, log *slog.Logger) (stop func(), err error) {
	path := filepath.Join(dir, SocketName)
	tmp := path + ".new" // bound first, see below
	if len(tmp) > maxPath {
		return nil, fmt.Errorf("control socket %s: over %d bytes, too long for a Unix socket; use a shorter data dir", tmp, maxPath)
	}
	if c, err := net.Dial("unix", path); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: another process serves it", path)
	}
	// Bound under a temporary name and renamed over any stale socket once
	// it is 0600, so no one connects while it is open to more.
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("control socket %s: %w", tmp, err)
	}
	ln, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	if err := errors.Join(os.Chmod(tmp, 0o600), os.Rename(tmp, path)); err != nil {
		ln.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	srv := &http.Server{Handler: (&api.Server{Store: s, Log: log}).ControlHandler(), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	log.Info("job commands served", "socket", path)
	return func() {
		os.Remove(path)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

// Client sends job commands to a process's control socket.
type Client struct {
	path string
	http *http.Client
}

// Dial connects to the control socket in dir, checking that it answers.
func Dial(ctx context.Context, dir string) (*Client, error) {
	path := filepath.Join(dir, SocketName)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	conn.Close()
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return d.DialContext(ctx, "unix", path)
	}}
	return &Client{path: path, http: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// List views every job.
func (c *Client) List(ctx context.Context) (views []api.JobView, err error) {
	return views, c.do(ctx, http.MethodGet, "/api/v1/jobs", nil, &views)
}

// Get views one job.
func (c *Client) Get(ctx context.Context, id string) (v api.JobView, err error) {
	return v, c.do(ctx, http.MethodGet, "/api/v1/jobs/"+url.PathEscape(id), nil, &v)
}

// Act applies an operator's action to a job.
func (c *Client) Act(ctx context.Context, id, action string) (v api.JobView, err error) {
	return v, c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/"+url.PathEscape(action), nil, &v)
}

// SetRate sets a job's rate limit while it runs.
func (c *Client) SetRate(ctx context.Context, id string, rate float64) (v api.JobView, err error) {
	return v, c.do(ctx, http.MethodPost, "/api/v1/jobs/"+url.PathEscape(id)+"/rate", api.RateRequest{Rate: rate}, &v)
}

// do sends one request and decodes the answer into out; an error the
// holder answered is returned as it said it.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var b bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&b).Encode(body); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://control"+path, &b)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error string }
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil || e.Error == "" {
			e.Error = fmt.Sprintf("control socket %s: %s", c.path, resp.Status)
		}
		return &remoteError{msg: e.Error, is: statusErrors[resp.StatusCode]}
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("control socket %s: read the answer: %w", c.path, err)
	}
	return nil
}

// statusErrors are the errors the holder's statuses stand for (see
// api's statusOf).
var statusErrors = map[int]error{
	http.StatusNotFound:           assets.ErrNotFound,
	http.StatusConflict:           control.ErrTransition,
	http.StatusBadRequest:         control.ErrRate,
	http.StatusServiceUnavailable: assets.ErrUnavailable,
}

// remoteError is an error the holder answered, worded as it said it; it
// is the error its status stands for.
type remoteError struct {
	msg string
	is  error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.is }
