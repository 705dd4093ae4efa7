package backup

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3 says how to reach S3-compatible storage holding snapshot backups.
type S3 struct {
	Endpoint  string `mapstructure:"endpoint"` // host:port; default s3.amazonaws.com
	Region    string `mapstructure:"region"`
	AccessKey string `mapstructure:"access_key"` // empty: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
	SecretKey string `mapstructure:"secret_key"`
	Insecure  bool   `mapstructure:"insecure"` // plain HTTP, for a local MinIO
}

// IsRemote reports whether a snapshot location is an s3:// URL.
func IsRemote(location string) bool { return strings.HasPrefix(location, "s3://") }

// Fetch copies the snapshot under an s3://bucket/prefix URL into a
// directory under cache and returns that directory, for OpenSnapshot.
// SSTable files never change once written, so a file already in the cache
// with the object's size is kept: an interrupted fetch resumes.
func (c S3) Fetch(ctx context.Context, location, cache string) (string, error) {
	u, err := url.Parse(location)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return "", fmt.Errorf("backup: snapshot location %q: want s3://bucket/prefix", location)
	}
	bucket, prefix := u.Host, strings.Trim(u.Path, "/")
	endpoint := c.Endpoint
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	creds := credentials.NewStaticV4(c.AccessKey, c.SecretKey, "")
	if c.AccessKey == "" {
		creds = credentials.NewEnvAWS()
	}
	client, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: !c.Insecure, Region: c.Region})
	if err != nil {
		return "", fmt.Errorf("backup: s3 %s: %w", endpoint, err)
	}
	dest := filepath.Join(cache, bucket, filepath.FromSlash(prefix))
	n := 0
	opts := minio.ListObjectsOptions{Prefix: strings.TrimSuffix(prefix+"/", "/") + "/", Recursive: true}
	if prefix == "" {
		opts.Prefix = ""
	}
	for obj := range client.ListObjects(ctx, bucket, opts) {
		if obj.Err != nil {
			return "", fmt.Errorf("backup: list %s: %w", location, obj.Err)
		}
		rel := strings.TrimPrefix(obj.Key, opts.Prefix)
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue
		}
		if clean := path.Clean(rel); clean != rel || strings.HasPrefix(clean, "../") {
			return "", fmt.Errorf("backup: %s: object key %q escapes the prefix", location, obj.Key)
		}
		local := filepath.Join(dest, filepath.FromSlash(rel))
		if st, err := os.Stat(local); err == nil && st.Size() == obj.Size {
			n++
			continue
		}
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
		tmp := local + ".part"
		if err := client.FGetObject(ctx, bucket, obj.Key, tmp, minio.GetObjectOptions{}); err != nil {
			return "", fmt.Errorf("backup: fetch s3://%s/%s: %w", bucket, obj.Key, err)
		}
		if err := os.Rename(tmp, local); err != nil {
			return "", fmt.Errorf("backup: %w", err)
		}
		n++
	}
	if n == 0 {
		return "", fmt.Errorf("backup: no objects under %s", location)
	}
	return dest, nil
}
