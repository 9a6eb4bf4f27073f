#!/usr/bin/env bash
# `make up`: a working Oblivion on a local Kind cluster, from a fresh clone, in one command.
#   1. check the tools (Docker, kind, kubectl, helm) and say how to get a missing one;
#   2. create the cluster from kind-config.yaml (kept if it exists) and install Calico, which
#      enforces NetworkPolicies (kind's own CNI does not);
#   3. build the three images and load them into the nodes;
#   4. helm upgrade --install the chart with charts/oblivion/values-kind.yaml;
#   5. apply examples/ and wait until every Oblivion custom resource is Ready;
#   6. print what to do next.
# Nothing but the four tools is needed. Slack/ClickUp credentials are optional and taken from
# OBLIVION_SLACK_BOT_TOKEN, OBLIVION_SLACK_SIGNING_SECRET, OBLIVION_CLICKUP_TOKEN,
# OBLIVION_CLICKUP_WEBHOOK_SECRET and OBLIVION_CLICKUP_TEAM_ID when set; without a Slack bot token the
# examples become Ready without Slack channels.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${KIND_CLUSTER:-oblivion}"
NAMESPACE="${OBLIVION_NAMESPACE:-oblivion}"
RELEASE="${OBLIVION_RELEASE:-oblivion}"
CALICO_VERSION="${CALICO_VERSION:-v3.29.3}"
TAG="${OBLIVION_IMAGE_TAG:-dev}"
WAIT="${OBLIVION_WAIT:-600s}"
DOCKER="${DOCKER:-docker}"
KIND="${KIND:-kind}"
KUBECTL="${KUBECTL:-kubectl}"
HELM="${HELM:-helm}"

say() { printf '\n==> %s\n' "$*"; }

missing=0
need() {  # need TOOL HOW-TO-GET-IT
  if ! command -v "$1" >/dev/null 2>&1; then
    echo "missing: $1 — $2" >&2
    missing=1
  fi
}
need "$DOCKER" "install Docker Engine or Docker Desktop: https://docs.docker.com/get-docker/"
need "$KIND" "install kind: https://kind.sigs.k8s.io/docs/user/quick-start/#installation (e.g. 'go install sigs.k8s.io/kind@latest' or 'brew install kind')"
need "$KUBECTL" "install kubectl: https://kubernetes.io/docs/tasks/tools/ (e.g. 'brew install kubectl')"
need "$HELM" "install Helm 3.14+ or 4: https://helm.sh/docs/intro/install/ (e.g. 'brew install helm')"
[ "$missing" -eq 0 ] || exit 127
if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "Docker is installed but its engine is not running (docker info failed): start Docker first." >&2
  exit 1
fi

if [ -z "${OBLIVION_SLACK_BOT_TOKEN:-}" ]; then
  SLACK_NOTE="Slack: no OBLIVION_SLACK_BOT_TOKEN was given, so Workgroups and Projects have no channel
(their SlackChannel condition says SlackNotConfigured). To get channels, export a bot token
(xoxb-..., from https://api.slack.com/apps) and run 'make up' again."
else
  SLACK_NOTE="Slack: channels are created with the bot token from OBLIVION_SLACK_BOT_TOKEN."
fi

CONTEXT="kind-$CLUSTER"
k() { "$KUBECTL" --context "$CONTEXT" "$@"; }

if "$KIND" get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  say "Kind cluster '$CLUSTER' exists; reusing it"
else
  say "creating Kind cluster '$CLUSTER' (1 control plane, 2 workers)"
  "$KIND" create cluster --name "$CLUSTER" --config kind-config.yaml --wait 0s
fi

say "installing Calico $CALICO_VERSION (NetworkPolicy enforcement)"
k apply --server-side --force-conflicts \
  -f "https://raw.githubusercontent.com/projectcalico/calico/${CALICO_VERSION}/manifests/calico.yaml" >/dev/null
k -n kube-system rollout status daemonset/calico-node --timeout="$WAIT"
k wait --for=condition=Ready nodes --all --timeout="$WAIT"

say "building images (tag $TAG)"
"$DOCKER" build -f docker/nexus.Dockerfile -t "oblivion/nexus:$TAG" .
"$DOCKER" build -f docker/operator.Dockerfile -t "oblivion/operator:$TAG" .
"$DOCKER" build -f docker/agent-runtime.Dockerfile -t "oblivion/agent:$TAG" .
say "loading images into the nodes"
"$KIND" load docker-image --name "$CLUSTER" "oblivion/nexus:$TAG" "oblivion/operator:$TAG" "oblivion/agent:$TAG"

# Credentials go through a private values file, never through command-line arguments.
credentials="$(mktemp)"
trap 'rm -f "$credentials"' EXIT
chmod 600 "$credentials"
{
  echo "secrets:"
  [ -n "${OBLIVION_SLACK_BOT_TOKEN:-}" ] && echo "  slackBotToken: \"$OBLIVION_SLACK_BOT_TOKEN\""
  [ -n "${OBLIVION_SLACK_SIGNING_SECRET:-}" ] && echo "  slackSigningSecret: \"$OBLIVION_SLACK_SIGNING_SECRET\""
  [ -n "${OBLIVION_CLICKUP_TOKEN:-}" ] && echo "  clickupToken: \"$OBLIVION_CLICKUP_TOKEN\""
  [ -n "${OBLIVION_CLICKUP_WEBHOOK_SECRET:-}" ] && echo "  clickupWebhookSecret: \"$OBLIVION_CLICKUP_WEBHOOK_SECRET\""
  echo "config:"
  echo "  clickupTeamId: \"${OBLIVION_CLICKUP_TEAM_ID:-}\""
  echo "nexus: {image: {tag: \"$TAG\"}}"
  echo "worker: {image: {tag: \"$TAG\"}}"
  echo "operator: {image: {tag: \"$TAG\"}}"
  echo "agentRuntime: {image: {tag: \"$TAG\"}}"
} >"$credentials"

say "installing the chart as release '$RELEASE' in namespace '$NAMESPACE'"
"$HELM" upgrade --install "$RELEASE" charts/oblivion --kube-context "$CONTEXT" \
  --namespace "$NAMESPACE" --create-namespace \
  --values charts/oblivion/values-kind.yaml --values "$credentials" --timeout "$WAIT"
# The chart names resources <release>-oblivion-*, or <release>-* when the release name holds "oblivion".
case "$RELEASE" in *oblivion*) FULLNAME="$RELEASE" ;; *) FULLNAME="$RELEASE-oblivion" ;; esac
for component in nexus worker operator; do
  k -n "$NAMESPACE" rollout status "deployment/$FULLNAME-$component" --timeout="$WAIT"
done

if compgen -G "examples/*.yaml" >/dev/null; then
  say "applying examples/"
  k apply -f examples/  # the top level only: examples/invalid/ holds specs meant to be refused
  say "waiting until every Oblivion custom resource is Ready"
  for kind in workgroups projects agents toolcredentials; do
    if [ -n "$(k get "$kind" --all-namespaces -o name)" ]; then
      k wait --for=condition=Ready "$kind" --all --all-namespaces --timeout="$WAIT"
    fi
  done
fi

cat <<NEXT

Oblivion is up on Kind cluster '$CLUSTER' (kubectl context $CONTEXT).

  kubectl --context $CONTEXT get oblivion -A         # your Workgroups, Projects, Agents, ToolCredentials
  kubectl --context $CONTEXT -n $NAMESPACE get pods   # Nexus, worker, operator, PostgreSQL, Redis, Qdrant
  helm --kube-context $CONTEXT -n $NAMESPACE test $RELEASE   # Nexus /readyz from inside the cluster
  curl -s http://localhost:8080/healthz               # Nexus from this machine

$SLACK_NOTE
Webhooks: point ClickUp and Slack at http://localhost:8080/webhooks/clickup and /webhooks/slack
(through a tunnel such as cloudflared or ngrok for the real services).
Tear everything down with: make down
NEXT
