package cli

import (
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

var quietClientOnce sync.Once

// quietClientLog stops client-go's own log lines (klog, on the process's stderr) from
// reaching the user. client-go logs at error level whatever it also returns as an error
// (a response body cut off by a timeout or a signal: "E1122 … Unexpected error when
// reading response body"), and at level 0 its throttling waits and the API server's
// warnings. The auditor says what went wrong in its own one error line, its warnings
// and serve's structured log; klog's lines would only break that contract.
func quietClientLog() {
	quietClientOnce.Do(func() { klog.SetLogger(logr.Discard()) })
}
