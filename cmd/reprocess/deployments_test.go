package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/reprocess/reprocess/config"
)

// knownEnv is every REPROCESS_* variable the configuration reads.
func knownEnv() map[string]bool {
	known := map[string]bool{"REPROCESS_CONFIG": true}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, v := range m {
			if sub, ok := v.(map[string]any); ok {
				walk(prefix+k+"_", sub)
				continue
			}
			known[strings.ToUpper(prefix+k)] = true
		}
	}
	walk(config.EnvPrefix, config.Default().Map())
	return known
}

// checkCommand fails unless args start with a real subcommand whose flags
// parse.
func checkCommand(t *testing.T, where string, args []string) {
	t.Helper()
	if len(args) == 0 {
		t.Errorf("%s: no command", where)
		return
	}
	cmd, rest, err := newRoot().Find(args)
	if err != nil || cmd.Name() != args[0] {
		t.Errorf("%s: %q is not a reprocess command (%v)", where, args[0], err)
		return
	}
	var expanded []string
	for _, a := range rest {
		// Compose variables expand to their defaults: ${NAME:-default}.
		expanded = append(expanded, os.Expand(a, func(name string) string {
			if _, def, ok := strings.Cut(name, ":-"); ok {
				return def
			}
			return "x"
		}))
	}
	if err := cmd.ParseFlags(expanded); err != nil {
		t.Errorf("%s: flags of %s: %v", where, args[0], err)
	}
}

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile("../../deployments/compose/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(raw, &c); err != nil {
		t.Fatalf("compose.yaml: %v", err)
	}
	if len(c.Services) < 2 {
		t.Fatalf("compose.yaml has %d services", len(c.Services))
	}
	known := knownEnv()
	for name, svc := range c.Services {
		checkCommand(t, "compose service "+name, svc.Command)
		for k := range svc.Environment {
			if !known[k] {
				t.Errorf("compose service %s sets %s, which is no setting", name, k)
			}
		}
	}
}

func TestKubernetesManifests(t *testing.T) {
	raw, err := os.ReadFile("../../deployments/kubernetes/reprocess.yaml")
	if err != nil {
		t.Fatal(err)
	}
	type envVar struct {
		Name      string `yaml:"name"`
		Value     string `yaml:"value"`
		ValueFrom struct {
			ConfigMapKeyRef struct {
				Name string `yaml:"name"`
				Key  string `yaml:"key"`
			} `yaml:"configMapKeyRef"`
		} `yaml:"valueFrom"`
	}
	type document struct {
		Kind     string `yaml:"kind"`
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
		Data map[string]string `yaml:"data"`
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Args []string `yaml:"args"`
						Env  []envVar `yaml:"env"`
					} `yaml:"containers"`
				} `yaml:"spec"`
			} `yaml:"template"`
		} `yaml:"spec"`
	}
	var docs []document
	configMaps := map[string]map[string]string{}
	for dec := yaml.NewDecoder(bytes.NewReader(raw)); ; {
		var doc document
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("reprocess.yaml: %v", err)
		}
		docs = append(docs, doc)
		if doc.Kind == "ConfigMap" {
			configMaps[doc.Metadata.Name] = doc.Data
		}
	}
	kinds := map[string]int{}
	known := knownEnv()
	for _, doc := range docs {
		kinds[doc.Kind]++
		for _, c := range doc.Spec.Template.Spec.Containers {
			// Kubernetes expands $(NAME) in args from the container's env.
			var vars []string
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, config.EnvPrefix) && !known[e.Name] {
					t.Errorf("kubernetes %s sets %s, which is no setting", doc.Kind, e.Name)
				}
				v := e.Value
				if ref := e.ValueFrom.ConfigMapKeyRef; ref.Name != "" {
					var ok bool
					if v, ok = configMaps[ref.Name][ref.Key]; !ok {
						t.Errorf("kubernetes %s: env %s from ConfigMap %s key %s, which is not in the manifests", doc.Kind, e.Name, ref.Name, ref.Key)
					}
				}
				vars = append(vars, "$("+e.Name+")", v)
			}
			args, r := slices.Clone(c.Args), strings.NewReplacer(vars...)
			for i, a := range args {
				args[i] = r.Replace(a)
			}
			checkCommand(t, "kubernetes "+doc.Kind+" "+doc.Metadata.Name, args)
		}
		if conf, ok := doc.Data["config.yaml"]; ok {
			// The mounted file must load as the binary loads it.
			path := filepath.Join(t.TempDir(), "config.yaml")
			os.WriteFile(path, []byte(conf), 0o600)
			clearEnv(t)
			t.Setenv("REPROCESS_CONFIG", path)
			cfg, err := config.Load(nil)
			if err != nil {
				t.Errorf("the ConfigMap's config.yaml does not load: %v", err)
			} else if cfg.Store.Backend != "cassandra" || len(cfg.Kafka.Brokers) != 3 {
				t.Errorf("ConfigMap config: backend %s, brokers %v", cfg.Store.Backend, cfg.Kafka.Brokers)
			}
		}
	}
	for _, k := range []string{"ConfigMap", "Secret", "Deployment", "Service"} {
		if kinds[k] == 0 {
			t.Errorf("no %s in the manifests", k)
		}
	}
}
