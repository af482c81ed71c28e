# shellcheck shell=bash
# Sourced by scripts/docker-offline.sh (uses its log, die, need_root,
# image_present, bootstrap_rootfs and its ROOTFS_TARBALL, import_base, PULL_TIMEOUT_S).
#
# The Prometheus image of the compose `monitoring` profile. ensure_prometheus_base
# sets PROMETHEUS_IMAGE (written to .env) to, in order: the official image when
# present or pullable, a local one built earlier, or local/prometheus built now
# from Debian's `prometheus` package on the bookworm root fs the other local bases
# start from. Both run the same way: compose sets the entrypoint (`prometheus`
# on PATH), the flags, user 65534 and the /prometheus data volume.

OFFICIAL_PROMETHEUS_IMAGE="prom/prometheus:v2.53.4"
LOCAL_PROMETHEUS_IMAGE="local/prometheus:bookworm"

ensure_prometheus_base() {
  if image_present "$OFFICIAL_PROMETHEUS_IMAGE"; then
    PROMETHEUS_IMAGE=$OFFICIAL_PROMETHEUS_IMAGE
  elif image_present "$LOCAL_PROMETHEUS_IMAGE"; then
    PROMETHEUS_IMAGE=$LOCAL_PROMETHEUS_IMAGE
  elif [ "${STREAMBENCH_TRY_PULL:-1}" = 1 ] &&
    timeout "$PULL_TIMEOUT_S" docker pull -q "$OFFICIAL_PROMETHEUS_IMAGE" >/dev/null 2>&1; then
    PROMETHEUS_IMAGE=$OFFICIAL_PROMETHEUS_IMAGE
  else
    build_local_prometheus
    PROMETHEUS_IMAGE=$LOCAL_PROMETHEUS_IMAGE
  fi
  log "prometheus: $PROMETHEUS_IMAGE"
}

build_local_prometheus() {
  need_root "building $LOCAL_PROMETHEUS_IMAGE"
  bootstrap_rootfs # sets ROOTFS_TARBALL, the cached bookworm root fs
  # The data directory compose mounts a volume on, owned by nobody as in the
  # official image (a new volume takes the owner of the directory it covers).
  # shellcheck disable=SC2016 # expanded inside import_base, where $dir is set
  import_base "$LOCAL_PROMETHEUS_IMAGE" "$ROOTFS_TARBALL" "prometheus" \
    'mkdir -p "$dir/prometheus" && chown 65534:65534 "$dir/prometheus"' \
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    "USER 65534:65534" "WORKDIR /prometheus" "EXPOSE 9090" \
    'ENTRYPOINT ["prometheus"]' \
    'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]'
}
