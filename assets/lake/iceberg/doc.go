// Package iceberg writes exports to Apache Iceberg tables (iceberg-go),
// through a SQL catalog on a SQLite file or a REST catalog, one commit per
// export, so an export that stops early adds no rows.
//
// A snapshot of the assets table, and the export transform, write assets
// in AssetSchema, the columns of lake.Row. The rows of a snapshot of any
// other table keep its columns, typed:
//
//	text, ascii, varchar, inet, duration  string (Cassandra's text)
//	int, smallint, tinyint                int
//	bigint, counter                       long
//	varint                                decimal(38, 0); a larger value fails
//	decimal                               string: its exact text (no fixed scale)
//	float, double, boolean                float, double, boolean
//	timestamp                             timestamptz (microseconds)
//	date                                  date
//	time                                  time: microseconds, the nanoseconds cut
//	uuid, timeuuid                        uuid
//	blob                                  binary
//	list, set, vector                     list
//	map                                   map
//	user type                             struct of its fields
//	tuple                                 struct of fields _1, _2, ...
package iceberg
