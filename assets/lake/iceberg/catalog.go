package iceberg

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	ice "github.com/apache/iceberg-go"
	"github.com/apache/iceberg-go/catalog"
	"github.com/apache/iceberg-go/catalog/rest"
	sqlcat "github.com/apache/iceberg-go/catalog/sql"
	iceio "github.com/apache/iceberg-go/io"
	_ "github.com/apache/iceberg-go/io/gocloud/s3" // s3:// warehouses
	"github.com/apache/iceberg-go/table"
	_ "modernc.org/sqlite" // the SQL catalog's database/sql driver "sqlite"

	"github.com/reprocess/reprocess/assets/backup"
)

// CatalogName is the name tables are registered under in a SQL catalog;
// pyiceberg's SqlCatalog must be given the same name to see them.
const CatalogName = "default"

// Catalog says where the Iceberg catalog is.
type Catalog struct {
	// URI is an http:// or https:// REST catalog, else the path of a
	// SQLite database file holding a SQL catalog (created when absent).
	URI string `mapstructure:"catalog"`
	// Token is the REST catalog's bearer token, if it needs one.
	Token string `mapstructure:"token"`
	// Warehouse is where new tables' files go: a directory or a URL the
	// catalog's file IO serves. For a SQLite catalog it defaults to the
	// directory "warehouse" beside the database file; a REST catalog
	// chooses its own when it is empty.
	Warehouse string `mapstructure:"warehouse"`
	// S3 is the endpoint and keys of an s3:// warehouse of a SQLite
	// catalog.
	S3 backup.S3 `mapstructure:"s3"`
}

// With returns c with URI uri, when uri is not empty. The configured
// token goes only to the configured catalog: another URI gets none.
func (c Catalog) With(uri string) Catalog {
	if uri != "" && uri != c.URI {
		c.URI, c.Token = uri, ""
	}
	return c
}

// IsREST reports whether the catalog is a REST catalog.
func (c Catalog) IsREST() bool {
	return strings.HasPrefix(c.URI, "http://") || strings.HasPrefix(c.URI, "https://")
}

// Open connects to the catalog. The caller closes it with Close.
func (c Catalog) Open(ctx context.Context) (catalog.Catalog, error) {
	if c.URI == "" {
		return nil, errors.New("iceberg: no catalog: give a SQLite file path or a REST catalog URL")
	}
	if c.IsREST() {
		var opts []rest.Option
		if c.Token != "" {
			opts = append(opts, rest.WithOAuthToken(c.Token))
		}
		if c.Warehouse != "" {
			opts = append(opts, rest.WithWarehouseLocation(c.Warehouse))
		}
		cat, err := rest.NewCatalog(ctx, "rest", c.URI, opts...)
		if err != nil {
			return nil, fmt.Errorf("iceberg: REST catalog %s: %w", c.URI, err)
		}
		return cat, nil
	}
	return c.openSQLite()
}

func (c Catalog) openSQLite() (catalog.Catalog, error) {
	path, err := filepath.Abs(strings.TrimPrefix(c.URI, "sqlite:"))
	if err != nil {
		return nil, err
	}
	warehouse := c.Warehouse
	if warehouse == "" {
		warehouse = filepath.Join(filepath.Dir(path), "warehouse")
	}
	if !strings.Contains(warehouse, "://") {
		if warehouse, err = filepath.Abs(warehouse); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(warehouse, 0o755); err != nil {
			return nil, fmt.Errorf("iceberg: warehouse: %w", err)
		}
		warehouse = (&url.URL{Scheme: "file", Path: warehouse}).String()
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return nil, fmt.Errorf("iceberg: SQLite catalog %s: %w", path, err)
	}
	cat, err := sqlcat.NewCatalog(CatalogName, db, sqlcat.SQLite, c.s3Props(ice.Properties{"warehouse": warehouse}))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("iceberg: SQLite catalog %s: %w", path, err)
	}
	return closingCatalog{cat, db}, nil
}

// s3Props adds the S3 settings to props, as iceberg-go's S3 file IO
// reads them.
func (c Catalog) s3Props(props ice.Properties) ice.Properties {
	if c.S3.Endpoint != "" {
		scheme := "https://"
		if c.S3.Insecure {
			scheme = "http://"
		}
		props[iceio.S3EndpointURL] = scheme + c.S3.Endpoint
	}
	if c.S3.Region != "" {
		props[iceio.S3Region] = c.S3.Region
	}
	if c.S3.AccessKey != "" {
		props[iceio.S3AccessKeyID], props[iceio.S3SecretAccessKey] = c.S3.AccessKey, c.S3.SecretKey
	}
	return props
}

// closingCatalog closes the database it was opened on.
type closingCatalog struct {
	*sqlcat.Catalog
	db *sql.DB
}

func (c closingCatalog) Close() error { return errors.Join(c.Catalog.Close(), c.db.Close()) }

// Close closes a catalog Open returned.
func Close(cat catalog.Catalog) error {
	if c, ok := cat.(interface{ Close() error }); ok {
		return c.Close()
	}
	return nil
}

// ParseIdent parses namespace.table (the namespace may have several
// levels). Each part is a name of letters, digits and underscores, as in
// CQL, so no part can name a path outside the warehouse.
func ParseIdent(name string) (table.Identifier, error) {
	id := strings.Split(name, ".")
	if len(id) < 2 || slices.ContainsFunc(id, func(p string) bool { return !identPart.MatchString(p) }) {
		return nil, fmt.Errorf("iceberg: table %q: want namespace.table, each part letters, digits and underscores, e.g. lake.assets", name)
	}
	return id, nil
}

var identPart = regexp.MustCompile(`^[A-Za-z0-9_]{1,128}$`)
