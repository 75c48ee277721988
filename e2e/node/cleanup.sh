#!/usr/bin/env bash
# Tears down one e2e node (e2e/node/node.ts): run by its stop() after the
# graceful part, and by its watchdog if the test process dies first. Leaves
# nothing behind: processes, mounts (pods' volumes, rootfs overlays, network
# namespaces), cgroups, the CNI bridge, the nft table, the sysctls kubelet
# changed, and the node's directory.
#   cleanup.sh DIR CGROUP_ROOT BRIDGE NFT_TABLE
set -u
dir="$1" cg="$2" bridge="$3" table="$4"
[[ "$dir" == /*/envicutor-node-* ]] || { echo "cleanup.sh: refusing $dir" >&2; exit 2; }

# kubelet and containerd run in process groups of their own (ids in DIR/pgids).
for g in $(cat "$dir/pgids" 2>/dev/null); do kill -TERM -- "-$g" 2>/dev/null; done
for _ in $(seq 50); do
  alive=0
  for g in $(cat "$dir/pgids" 2>/dev/null); do kill -0 -- "-$g" 2>/dev/null && alive=1; done
  ((alive)) || break
  sleep 0.1
done
for g in $(cat "$dir/pgids" 2>/dev/null); do kill -KILL -- "-$g" 2>/dev/null; done

# Every process of every pod: the tasks of the node's cgroup subtree.
for _ in $(seq 50); do
  pids="$(find /sys/fs/cgroup/pids/"$cg" -name cgroup.procs -exec cat {} + 2>/dev/null | sort -u)"
  [[ -z "$pids" ]] && break
  kill -KILL $pids 2>/dev/null
  sleep 0.1
done
# The shims re-parent themselves out of containerd's group; they name its socket.
for p in /proc/[0-9]*; do
  if tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $dir/containerd/containerd.sock"; then
    kill -KILL "${p#/proc/}" 2>/dev/null
  fi
done

# Mounts under the node's directory, deepest first (lazily: a dying shim may hold one).
for _ in 1 2 3; do
  mapfile -t mounts < <(awk -v d="$dir/" 'index($5, d) == 1 { print $5 }' /proc/self/mountinfo | sort -r)
  ((${#mounts[@]})) || break
  for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null; done
done

# cgroups, leaves first, in every hierarchy.
for h in /sys/fs/cgroup/*/; do
  [[ -d "$h$cg" ]] && find "$h$cg" -depth -type d -exec rmdir {} + 2>/dev/null
done

ip link del "$bridge" 2>/dev/null
nft delete table ip "$table" 2>/dev/null

# Outside the directory: what kubelet and the CNI library write to fixed paths.
# The CNI network is named like the cgroup root; a pod's results are
# <network>-<container>-eth0 and cni-loopback-<container>-lo.
for f in /var/lib/cni/results/"$cg"-*; do
  [[ -e "$f" ]] || continue
  id="${f#/var/lib/cni/results/"$cg"-}"
  rm -f "$f" "/var/lib/cni/results/cni-loopback-${id%-eth0}-lo"
done
find /var/log/containers -maxdepth 1 -lname "$dir/*" -delete 2>/dev/null
# The ones this node made (DIR/made-paths), from a fixed list only.
while read -r p; do
  case "$p" in
  /var/lib/kubelet | /var/log/containers | /usr/libexec/kubernetes | /var/lib/cni) rm -rf "$p" ;;
  esac
done <"$dir/made-paths" 2>/dev/null

# The kernel settings kubelet sets to its liking (protectKernelDefaults: false), as they were.
if [[ -f "$dir/sysctls" ]]; then
  while read -r key value; do sysctl -q -w "$key=$value" >/dev/null 2>&1; done <"$dir/sysctls"
fi
rm -rf "$dir"
