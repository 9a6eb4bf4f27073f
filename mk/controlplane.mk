# The real Kubernetes control plane the tests run against (included by the Makefile):
# `make apiserver` builds tests/controlplane/ (kube-apiserver, embedded etcd, a trimmed
# kube-controller-manager) from the Go module proxy into the ignored .cache/; `make controlplane`
# runs it in the foreground for a person until Ctrl-C.
CONTROLPLANE_SRC := tests/controlplane
CONTROLPLANE_BIN := .cache/controlplane/controlplane

.PHONY: apiserver controlplane

# Rebuilt only when the program or its pinned modules change; a cold build downloads the modules and
# compiles Kubernetes (CONTRIBUTING.md says how long that takes).
$(CONTROLPLANE_BIN): $(CONTROLPLANE_SRC)/go.mod $(CONTROLPLANE_SRC)/go.sum $(wildcard $(CONTROLPLANE_SRC)/*.go)
	@command -v go >/dev/null || { echo "missing: go (1.24 or newer) — install it: apt-get install golang-go, or https://go.dev/doc/install" >&2; exit 127; }
	@mkdir -p $(dir $@)
	cd $(CONTROLPLANE_SRC) && go build -mod=readonly -o $(CURDIR)/$@.tmp .
	mv $@.tmp $@

apiserver: $(CONTROLPLANE_BIN) ## build the test control plane (kube-apiserver + etcd + controller manager) into .cache/

controlplane: $(CONTROLPLANE_BIN) ## run the control plane on 127.0.0.1 until Ctrl-C; prints the kubeconfig to use
	@exec $(CONTROLPLANE_BIN)
