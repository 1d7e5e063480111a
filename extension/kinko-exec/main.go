// Command kinko-exec resolves kinko: references in the environment, then execs the runtime:
// with AWS_LAMBDA_EXEC_WRAPPER=/opt/kinko-exec a managed runtime starts
// `/opt/kinko-exec <runtime command line>`; an OS-only runtime's bootstrap can
// `exec /opt/kinko-exec ./real-bootstrap`. See CONTRACT.md section 10 and README.md.
//
// The same binary starts the extension: the layer's extensions/kinko is the one line
// `#!/opt/kinko-exec --extension`, and launch (launch.go) binds, registers and sends the first
// /event/next before it execs the extension proper, /opt/kinko/kinkod (package handoff).
//
// It is on the cold path of every function that uses it, so it links no AWS SDK, no net/http,
// not even net, fmt or encoding/json: only what raw HTTP/1.0 over a socket needs.
package main

import (
	"os"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == launchFlag {
		os.Exit(launch(os.Args, os.Environ(), os.Stderr, syscall.Exec))
	}
	os.Exit(run(os.Args, os.Environ(), os.Stderr, syscall.Exec, defaultLimits))
}
