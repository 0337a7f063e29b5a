package main

// Bad `serve` command lines, refused before the database is opened or a
// port is bound.
var serveHostile = []hostile{
	{name: "serve plain http on every interface", code: 2, args: []string{"serve", "--addr", ":8080"}, want: []string{"--addr :8080", "every interface", "without TLS", "--insecure-http"}},
	{name: "serve plain http on a LAN address", code: 2, args: []string{"serve", "--addr", "10.1.2.3:8080"}, want: []string{"--addr 10.1.2.3:8080", "without TLS"}},
	{name: "serve plain http on a host name", code: 2, args: []string{"serve", "--addr", "ward7.example:8080"}, want: []string{"ward7.example", "without TLS"}},
	{name: "serve address without port", code: 2, args: []string{"serve", "--addr", "127.0.0.1"}, want: []string{`--addr "127.0.0.1"`, "HOST:PORT"}},
	{name: "serve certificate without key", code: 2, args: []string{"serve", "--tls-cert", "$DIR/ward.crt"}, want: []string{"--tls-cert and --tls-key go together"}},
	{name: "serve key without certificate", code: 2, args: []string{"serve", "--tls-key", "$DIR/ward.key"}, want: []string{"--tls-cert and --tls-key go together"}},
	{name: "serve certificate not PEM", code: 3, files: map[string]string{"ward.crt": "not a certificate", "ward.key": "not a key"},
		args: []string{"serve", "--tls-cert", "$DIR/ward.crt", "--tls-key", "$DIR/ward.key"}, want: []string{"--tls-cert", "ward.crt", "cannot be used"}},
	{name: "serve certificate missing", code: 3, args: []string{"serve", "--tls-cert", "$DIR/none.crt", "--tls-key", "$DIR/none.key"}, want: []string{"--tls-cert", "none.crt", "cannot be used"}},
	{name: "serve every interface without a public host", code: 2, args: []string{"serve", "--addr", ":8080", "--insecure-http"}, want: []string{"--addr :8080 listens on every interface", "--public-host NAME[:PORT]"}},
	{name: "serve public host with a scheme", code: 2, args: []string{"serve", "--public-host", "https://ward7.example"}, want: []string{`--public-host "https://ward7.example"`, "not a host name"}},
	{name: "serve public host with a path", code: 2, args: []string{"serve", "--public-host", "ward7.example/bedside"}, want: []string{`--public-host "ward7.example/bedside"`, "not a host name"}},
	{name: "serve public host bad port", code: 2, args: []string{"serve", "--public-host", "ward7.example:99999"}, want: []string{`--public-host "ward7.example:99999"`, "above 65535"}},
	{name: "serve argument", code: 2, args: []string{"serve", "now"}, want: []string{"takes no arguments", "now"}},
}

func init() { hostileCatalogue = append(append(hostileCatalogue, serveHostile...), clientHostile...) }

// Bad --server values and commands that do not run through a server,
// refused before anything is sent or opened.
var clientHostile = []hostile{
	{name: "server plain http beyond loopback", code: 2, args: []string{"--server", "http://10.1.2.3:8080", "--user", "aud", "trace", "donor", "D-0001"}, want: []string{"http://10.1.2.3:8080", "plain http", "clear text"}},
	{name: "server not a URL", code: 2, args: []string{"--server", "ward7:8080", "--user", "aud", "trace", "donor", "D-0001"}, want: []string{`"ward7:8080"`, "not a server URL"}},
	{name: "server with a path", code: 2, args: []string{"--server", "https://ward7.example/api", "--user", "aud", "trace", "donor", "D-0001"}, want: []string{"https://ward7.example/api", "no user, path or query"}},
	{name: "server for serve itself", code: 2, args: []string{"--server", "https://ward7.example", "serve"}, want: []string{"`celltrack serve`", "does not run through a server", "it is the server"}},
	{name: "server for check", code: 2, args: []string{"--server", "https://ward7.example", "--user", "aud", "check"}, want: []string{"`celltrack check`", "does not run through a server", "page by page", "on the server's machine"}},
	{name: "server for backup", code: 2, args: []string{"--server", "https://ward7.example", "--user", "alice", "backup", "--out", "$DIR/b.db"}, want: []string{"`celltrack backup`", "does not run through a server"}},
	{name: "server for restore", code: 2, args: []string{"--server", "https://ward7.example", "--user", "alice", "restore", "--from", "$DIR/b.db"}, want: []string{"`celltrack restore`", "replaces the database file"}},
	{name: "server for upgrade", code: 2, args: []string{"--server", "https://ward7.example", "upgrade"}, want: []string{"`celltrack upgrade`", "migrates the database file"}},
	{name: "server for init", code: 2, args: []string{"--server", "https://ward7.example", "init", "--facility", "G1234", "--admin", "x"}, want: []string{"`celltrack init`", "creates the database file"}},
	{name: "server for demo", code: 2, args: []string{"--server", "https://ward7.example", "demo", "--dir", "$DIR/demo"}, want: []string{"`celltrack demo`", "does not run through a server"}},
	{name: "server for audit key init", code: 2, args: []string{"--server", "https://ward7.example", "audit", "key", "init", "--out", "$DIR/k"}, want: []string{"`celltrack audit key init`", "signing key file"}},
	{name: "server for audit checkpoint", code: 2, args: []string{"--server", "https://ward7.example", "--user", "alice", "audit", "checkpoint", "--key", "$DIR/k"}, want: []string{"`celltrack audit checkpoint`", "key file"}},
	{name: "server with a typed --db", code: 2, args: []string{"--server", "https://ward7.example", "--db", "$DIR/training.db", "--user", "pat", "patient", "add", "--name", "Training Dummy", "--born", "1980-01-01", "--sex", "F", "MRN-TRAIN-1"},
		want: []string{"--db", "training.db", "https://ward7.example", "both say where the records are", "nothing was done"}},
	{name: "server with --db= after the command", code: 2, args: []string{"--server", "https://ward7.example", "--user", "aud", "lot", "list", "--db=$DIR/training.db"}, want: []string{"--db", "training.db", "drop --db"}},
}
