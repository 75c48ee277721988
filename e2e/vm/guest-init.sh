#!/bin/sh
# /init of the cgroup v2 guest (run by the kernel from the initramfs that
# e2e/vm/initramfs.ts builds with busybox-static). It makes the host's root,
# shared read-only over virtio-9p, the guest's root with tmpfs wherever the
# tests write, mounts the unified cgroup hierarchy and nothing of cgroup v1,
# runs the job the host left in the results share, writes its exit code
# there, and powers off. Everything the job prints goes to the results share
# (job.log); this script's own lines go to the serial console.
/bin/busybox --install -s /bin
export PATH=/bin
say() { echo "[guest-init] $*" >/dev/console; }
fail() {
  say "FAILED: $*"
  poweroff -f
}

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do insmod "/modules/$m" || fail "insmod $m"; done

R=/newroot
mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot $R || fail "mount hostroot"
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/shm $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t devpts devpts $R/dev/pts
# The checkout (envicutor.project= on the kernel command line), held before tmpfs may cover it.
P=$(sed -n 's/.*envicutor\.project=\([^ ]*\).*/\1/p' /proc/cmdline)
mkdir -p /project
[ -n "$P" ] && [ -d "$R$P" ] && mount -o bind "$R$P" /project
# Writable places: the rest of the host's tree stays read-only.
for d in /tmp /run /root /var/tmp /var/local /opt/isolate-2/etc; do
  [ -d "$R$d" ] || fail "$d is not a directory on the host"
  mount -t tmpfs -o mode=0755 tmpfs "$R$d"
done
chmod 1777 $R/tmp $R/var/tmp
# isolate 2.x's box root (e2e/support/isolate-installs.ts), whatever the host has there.
mkdir -p $R/var/local/lib/isolate2
mkdir -p $R/run/vm
mount -t 9p -o trans=virtio,version=9p2000.L,rw,cache=none,msize=512000 results $R/run/vm || fail "mount results"
# The checkout at its own path, when a tmpfs above (e.g. /tmp for a CI clone) hides it.
if [ -n "$P" ] && [ ! -d "$R$P/node_modules" ]; then
  mkdir -p "$R$P" || fail "cannot make $P"
  mount -o bind /project "$R$P" || fail "bind $P"
fi
hostname cgroup-v2-guest

say "booted in $(cut -d' ' -f1 /proc/uptime) s; cgroup controllers: $(cat $R/sys/fs/cgroup/cgroup.controllers)"
chroot $R /bin/sh /run/vm/job.sh >$R/run/vm/job.log 2>&1 </dev/null
echo $? >$R/run/vm/exit-code.tmp
mv $R/run/vm/exit-code.tmp $R/run/vm/exit-code
say "job exited $(cat $R/run/vm/exit-code) at $(cut -d' ' -f1 /proc/uptime) s"
kill -9 -1 2>/dev/null # whatever the job left running
sleep 0.2
sync
umount $R/run/vm
poweroff -f
