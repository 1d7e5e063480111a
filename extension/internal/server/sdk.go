package server

import "net/http"

// SDKPaths are where kinko answers POSTs in the AWS JSON 1.1 protocol (package sdkapi): the root,
// as an SDK's endpoint variable set to http://localhost:2773 sends them, and AWS Cloud
// Extensions' base paths, with or without their trailing slash.
func SDKPaths() [5]string {
	return [...]string{"/{$}", "/secretsmanager", "/secretsmanager/{$}", "/parameterstore", "/parameterstore/{$}"}
}

// HandleSDK answers POSTs to SDKPaths with sdk. Other methods on those paths stay unknown
// endpoints (404), as before.
func (h *Handler) HandleSDK(sdk http.Handler) {
	for _, p := range SDKPaths() {
		h.mux.Handle("POST "+p, sdk)
	}
}
