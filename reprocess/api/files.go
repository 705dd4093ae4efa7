package api

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/reprocess/reprocess/reprocess/job"
)

// errNoFiles refuses a file for a server with no serve.ids_dir.
var errNoFiles = errors.New("source.file: the API does not read server files; give source.ids")

// idsFile resolves name, a job's source.file, inside s.IDsDir: a relative
// path that, once cleaned and with every symlink evaluated, is a regular
// file under that directory. It returns the resolved path. Its errors name
// the file as given and say nothing of what is on the disk.
func (s *Server) idsFile(name string) (string, error) {
	if s.IDsDir == "" {
		return "", errNoFiles
	}
	refused := fmt.Errorf("source.file %s: not a file inside the server's ids directory (serve.ids_dir); name it relative to that directory", name)
	if filepath.IsAbs(name) {
		return "", refused
	}
	root, err := filepath.EvalSymlinks(s.IDsDir)
	if err != nil {
		s.Log.Error("serve.ids_dir cannot be resolved", "error", err)
		return "", refused
	}
	path, err := filepath.EvalSymlinks(filepath.Join(root, filepath.Clean(name)))
	if err != nil || !inside(root, path) {
		return "", refused
	}
	if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
		return "", refused
	}
	return path, nil
}

// serverPaths checks the fields of j that name places on the server,
// other than source.file: a backup source's snapshots and since must be
// s3:// locations, and an export's dir and SQLite catalog are resolved
// inside s.ExportDir. It reports whether a field was resolved.
func (s *Server) serverPaths(j *job.Job) (changed bool, err error) {
	var errs []error
	for i, loc := range j.Source.Snapshots {
		if !strings.HasPrefix(loc, "s3://") {
			errs = append(errs, fmt.Errorf("source.snapshots[%d]: the API reads no server directories; name s3:// snapshots", i))
		}
	}
	if j.Source.Since != "" && !strings.HasPrefix(j.Source.Since, "s3://") {
		errs = append(errs, errors.New("source.since: the API reads no server files; name an s3:// snapshot or manifest"))
	}
	resolve := func(field string, name *string) {
		path, err := s.exportPath(field, *name)
		if err != nil {
			errs = append(errs, err)
			return
		}
		*name, changed = path, true
	}
	if t := &j.Transform; t.Name == "export" {
		resolve("transform.dir", &t.Dir)
		if t.Catalog != "" && !strings.HasPrefix(t.Catalog, "http://") && !strings.HasPrefix(t.Catalog, "https://") {
			resolve("transform.catalog", &t.Catalog)
		}
	}
	return changed, errors.Join(errs...)
}

// exportPath resolves name, a path an export writes, inside s.ExportDir:
// relative, and inside it once cleaned and with the symlinks of the part
// that exists evaluated. Its errors name the field and the path as given.
func (s *Server) exportPath(field, name string) (string, error) {
	if s.ExportDir == "" {
		return "", fmt.Errorf("%s: the API writes files only under serve.export_dir, which this server does not set", field)
	}
	refused := fmt.Errorf("%s %s: not a path inside the server's export directory (serve.export_dir); name it relative to that directory", field, name)
	if !filepath.IsLocal(name) {
		return "", refused
	}
	root, err := filepath.EvalSymlinks(s.ExportDir)
	if err != nil {
		s.Log.Error("serve.export_dir cannot be resolved", "error", err)
		return "", refused
	}
	path := filepath.Join(root, name)
	for p := path; ; p = filepath.Dir(p) {
		real, err := filepath.EvalSymlinks(p)
		if err == nil {
			if !inside(root, real) {
				return "", refused
			}
			return path, nil
		}
		if !errors.Is(err, os.ErrNotExist) || p == root {
			return "", refused
		}
	}
}

// jobs is Jobs on s.Store, hiding the server's directories.
func (s *Server) jobs() Jobs {
	l := Jobs{Store: s.Store}
	for _, d := range []string{s.IDsDir, s.ExportDir} {
		if root, err := filepath.EvalSymlinks(d); d != "" && err == nil {
			l.Dirs = append(l.Dirs, root)
		}
	}
	return l
}

// inside reports whether path is under dir (both clean and absolute).
func inside(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}
