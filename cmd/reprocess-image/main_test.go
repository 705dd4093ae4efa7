package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

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
