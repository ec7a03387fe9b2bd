package db

// SchemaVersion lets the external tests (package db_test, which may import
// testkit) read the schema version.
var SchemaVersion = (*DB).schemaVersion
