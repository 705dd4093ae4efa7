// Command reprocess-image builds the reprocess container image without a
// Docker engine or a base image: one layer on an empty image, holding the
// static binary at /reprocess, the host's CA certificates and /tmp, run as
// user 65532. It writes an OCI image layout (OUT/oci) and a tarball that
// `docker load` takes (OUT/reprocess.tar), tagged with every -tag.
//
//	reprocess-image -binary bin/image/reprocess -out bin/image -tag reprocess:v1 -tag reprocess:latest
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// CACerts is where Debian's ca-certificates keeps the bundle, on the host
// and in the image.
const CACerts = "/etc/ssl/certs/ca-certificates.crt"

// Source is the image's org.opencontainers.image.source label.
const Source = "https://github.com/reprocess/reprocess"

func main() {
	binary := flag.String("binary", "bin/image/reprocess", "static linux binary of ./cmd/reprocess")
	out := flag.String("out", "bin/image", "output directory")
	var tags []string
	flag.Func("tag", "image tag, e.g. reprocess:latest (repeatable)", func(s string) error {
		tags = append(tags, s)
		return nil
	})
	flag.Parse()
	if len(tags) == 0 {
		tags = []string{"reprocess:latest"}
	}
	if err := Build(*binary, CACerts, *out, tags); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%s), %s\n", filepath.Join(*out, "reprocess.tar"), strings.Join(tags, ", "), filepath.Join(*out, "oci"))
}

// Build assembles the image from binary and the CA bundle at certs and
// writes OUT/oci and OUT/reprocess.tar.
func Build(binary, certs, out string, tags []string) error {
	ca, err := os.ReadFile(certs)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no CA certificates at %s: install Debian's ca-certificates", certs)
	} else if err != nil {
		return err
	}
	arch, err := staticArch(binary)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(binary)
	if err != nil {
		return err
	}
	layerTar, err := files([]file{
		{name: "etc/", mode: 0o755},
		{name: "etc/ssl/", mode: 0o755},
		{name: "etc/ssl/certs/", mode: 0o755},
		{name: strings.TrimPrefix(CACerts, "/"), mode: 0o644, data: ca},
		{name: "tmp/", mode: 0o1777},
		{name: strings.TrimPrefix(DataDir, "/") + "/", mode: 0o700, owner: user},
		{name: "reprocess", mode: 0o755, data: bin},
	})
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
	if err != nil {
		return err
	}
	cf, err := img.ConfigFile() // keeps the layer's diff id
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{"/reprocess"},
		Cmd:        []string{"serve"},
		User:       fmt.Sprintf("%d:%d", user, user),
		WorkingDir: DataDir,
		Env:        Env,
		Volumes:    map[string]struct{}{DataDir: {}},
		ExposedPorts: map[string]struct{}{
			"8080/tcp": {},
		},
		Labels: map[string]string{"org.opencontainers.image.source": Source},
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return err
	}
	refs := map[name.Reference]v1.Image{}
	oci := filepath.Join(out, "oci")
	if err := os.RemoveAll(oci); err != nil {
		return err
	}
	p, err := layout.Write(oci, empty.Index)
	if err != nil {
		return err
	}
	for _, t := range tags {
		ref, err := name.NewTag(t)
		if err != nil {
			return err
		}
		refs[ref] = img
		if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref.TagStr()})); err != nil {
			return err
		}
	}
	return tarball.MultiRefWriteToFile(filepath.Join(out, "reprocess.tar"), refs)
}

// staticArch returns the GOARCH of a statically linked linux ELF binary:
// the image has no dynamic loader or libc.
func staticArch(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return "", fmt.Errorf("%s is dynamically linked; build it with CGO_ENABLED=0", path)
		}
	}
	arch, ok := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
	if !ok {
		return "", fmt.Errorf("%s: unsupported machine %s", path, f.Machine)
	}
	return arch, nil
}

// epoch dates the image and its files, so a build is reproducible.
var epoch = time.Unix(0, 0).UTC()

// file is one entry of the layer; a name ending in / is a directory.
type file struct {
	name  string
	mode  int64
	data  []byte
	owner int // uid and gid; 0 is root
}

// user is the uid and gid the image runs as (distroless's nonroot).
const user = 65532

// DataDir is the image's volume for the embedded store (and its broker),
// owned by the image's user and its working directory.
const DataDir = "/data"

// Env is the image's environment: the embedded store in DataDir and the
// API on every interface of the container, port 8080.
var Env = []string{"REPROCESS_LOG_FORMAT=json", "REPROCESS_STORE_EMBEDDED_DIR=" + DataDir, "REPROCESS_SERVE_ADDR=:8080"}

// files returns the tar of entries.
func files(entries []file) ([]byte, error) {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range entries {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX,
			Uid: f.owner, Gid: f.owner}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
