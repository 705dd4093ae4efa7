package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImageRunsHelp builds the image from a fresh static binary, reads it
// back as `docker load` would, and runs the entrypoint's file from the
// layer with --help.
func TestImageRunsHelp(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "reprocess")
	build := exec.Command("go", "build", "-o", bin, "../reprocess")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "image")
	if err := Build(bin, CACerts, out, []string{"reprocess:test", "reprocess:latest"}); err != nil {
		t.Fatal(err)
	}

	tag, _ := name.NewTag("reprocess:test")
	img, err := tarball.ImageFromPath(filepath.Join(out, "reprocess.tar"), &tag)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if cf.OS != "linux" || cf.Architecture != runtime.GOARCH {
		t.Errorf("platform %s/%s", cf.OS, cf.Architecture)
	}
	// Exec form, absolute path: the runtime starts it without a shell.
	if len(c.Entrypoint) != 1 || !path.IsAbs(c.Entrypoint[0]) || len(c.Shell) > 0 {
		t.Fatalf("entrypoint %q, shell %q: want one absolute path, no shell", c.Entrypoint, c.Shell)
	}
	if !slices.Equal(c.Cmd, []string{"serve"}) || c.User != "65532:65532" {
		t.Errorf("cmd %q, user %q", c.Cmd, c.User)
	}
	if !slices.Contains(c.Env, "REPROCESS_LOG_FORMAT=json") || c.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("env %q, labels %v", c.Env, c.Labels)
	}

	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("layers: %d, %v", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	entry := strings.TrimPrefix(c.Entrypoint[0], "/")
	extracted := filepath.Join(dir, "entrypoint")
	seen := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = h
		if h.Name == entry {
			f, err := os.OpenFile(extracted, os.O_CREATE|os.O_WRONLY, h.FileInfo().Mode().Perm())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	if h := seen[entry]; h == nil || h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
		t.Fatalf("entrypoint %s in the layer: %+v, want an executable file", entry, h)
	}
	if h := seen[strings.TrimPrefix(CACerts, "/")]; h == nil || h.Size == 0 {
		t.Errorf("no CA certificates in the layer")
	}
	if h := seen["tmp/"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("/tmp in the layer: %+v", h)
	}
	if seen["bin/sh"] != nil {
		t.Errorf("the layer has a shell")
	}

	help, err := exec.Command(extracted, "--help").CombinedOutput()
	if err != nil || !strings.Contains(string(help), "Usage:\n  reprocess") {
		t.Fatalf("%s --help: %v\n%s", c.Entrypoint[0], err, help)
	}

	// The store's directory is the image's volume, owned by its user.
	if h := seen["data/"]; h == nil || h.Typeflag != tar.TypeDir || h.Uid != 65532 || h.Gid != 65532 || c.WorkingDir != DataDir {
		t.Errorf("/data in the layer: %+v, working dir %q; want a directory of 65532:65532, the working dir", h, c.WorkingDir)
	}
	if _, ok := c.Volumes[DataDir]; !ok {
		t.Errorf("volumes %v; want %s", c.Volumes, DataDir)
	}
	servesHealthz(t, extracted, c.Cmd, c.Env)

	idx, err := layout.ImageIndexFromPath(filepath.Join(out, "oci"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 2 {
		t.Fatalf("OCI layout: %v, %v", m, err)
	}
}

func TestBuildWantsCACerts(t *testing.T) {
	err := Build("reprocess", filepath.Join(t.TempDir(), "none.crt"), t.TempDir(), []string{"reprocess:test"})
	if err == nil || !strings.Contains(err.Error(), "ca-certificates") {
		t.Fatalf("got %v, want an error naming ca-certificates", err)
	}
}

// servesHealthz runs the entrypoint's command with the image's environment
// and a token, as `docker run -e REPROCESS_SERVE_TOKEN=...` does, and
// waits for /healthz. The host has no /data: the store goes to a
// temporary directory, and the API to a free port on every interface, as
// the image's address says.
func servesHealthz(t *testing.T, entrypoint string, cmd, imageEnv []string) {
	ln, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	env := []string{"REPROCESS_SERVE_TOKEN=test"}
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "REPROCESS_STORE_EMBEDDED_DIR":
			v = filepath.Join(t.TempDir(), "data")
		case "REPROCESS_SERVE_ADDR":
			if host, _, err := net.SplitHostPort(v); err != nil || (host != "" && host != "0.0.0.0") {
				t.Errorf("serve.addr %q: want every interface, which a container's published port reaches", v)
			}
			v = fmt.Sprintf(":%d", port)
		}
		env = append(env, k+"="+v)
	}
	serve := exec.Command(entrypoint, cmd...)
	serve.Env = env
	log, err := os.Create(filepath.Join(t.TempDir(), "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	serve.Stdout, serve.Stderr = log, log
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { serve.Process.Kill(); serve.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/healthz", port)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		res, err := http.Get(url)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(log.Name())
			t.Fatalf("GET %s: %v; the entrypoint's %v did not serve it within 30s:\n%s", url, err, cmd, out)
		}
	}
}
