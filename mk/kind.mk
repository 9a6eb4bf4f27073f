# Local cluster targets (included by the Makefile): `make up` builds and runs Oblivion on Kind,
# `make down` removes the cluster, `make chart-sync` refreshes the chart's copies of crds/ and the
# operator's ClusterRole (a unit test fails when they drift).
KIND_CLUSTER ?= oblivion
CHART_DIR := charts/oblivion

.PHONY: up down chart-sync

up: chart-sync ## create the Kind cluster, build and load the images, install the chart, apply examples/, wait Ready
	KIND_CLUSTER=$(KIND_CLUSTER) bash scripts/kind-up.sh

down: ## delete the Kind cluster made by `make up`
	@command -v kind >/dev/null || { echo "missing: kind — install it: https://kind.sigs.k8s.io/docs/user/quick-start/#installation" >&2; exit 127; }
	kind delete cluster --name $(KIND_CLUSTER)

chart-sync: ## copy crds/ and operator/deploy/clusterrole.yaml into the chart (files/)
	@mkdir -p $(CHART_DIR)/files/crds
	@rm -f $(CHART_DIR)/files/crds/*.yaml
	cp crds/*.yaml $(CHART_DIR)/files/crds/
	@if [ -f operator/deploy/clusterrole.yaml ]; then \
	  cp operator/deploy/clusterrole.yaml $(CHART_DIR)/files/operator-clusterrole.yaml; \
	  echo "cp operator/deploy/clusterrole.yaml $(CHART_DIR)/files/operator-clusterrole.yaml"; fi
