# Sourced by deploy/setup.sh and .ci/sanitizers.sh: installs the Debian packages given that are
# not installed yet (apt-get, through sudo unless root). SDW_SKIP_APT=1 skips it (images that
# already have them).
#   install_missing_packages LABEL PACKAGE...
install_missing_packages() {
  local label="$1"
  shift
  if [ -n "${SDW_SKIP_APT:-}" ]; then return 0; fi
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then return 0; fi
  local sudo_cmd=()
  if [ "$(id -u)" != 0 ]; then sudo_cmd=(sudo); fi
  echo "$label: installing ${#missing[@]} packages: ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
}
