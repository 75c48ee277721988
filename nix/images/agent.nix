# Agent image: Node 24 and the Envicutor package, isolate (the sandbox), Nix
# (Runtime installs), coreutils, bash, util-linux and keyutils. The agent runs privileged as root.
#
#   nix-build nix/images/agent.nix && docker load < result
#
# On a node the chart mounts the host's /nix over the image's, so Runtimes
# persist across agent restarts. That hides the image's own store paths; the
# chart's init container therefore runs `envicutor-seed-host-store /host` with
# the host's /nix at /host/nix, which copies this image's closure into it and
# registers it in the host's Nix database before the agent starts.
{
  pkgs ? import <nixpkgs> { },
  envicutor ? import ../default.nix { inherit pkgs nodejs; },
  nodejs ? pkgs.nodejs_24,
  # The package set `<nixpkgs>` resolves to on the node (ENVICUTOR_PACKAGE_SET's default):
  # the nixpkgs this image is built from, so Runtimes and the image agree on versions.
  nixpkgs ? pkgs.path,
  name ? "ghcr.io/envicutor/envicutor-agent",
  tag ? envicutor.version,
}:
let
  inherit (pkgs) lib dockerTools;

  # Everything the agent runs, under one /bin.
  agentEnv = pkgs.buildEnv {
    name = "envicutor-agent-env";
    paths = [
      nodejs
      envicutor
      pkgs.isolate
      pkgs.nix
      pkgs.coreutils
      pkgs.bash
      pkgs.util-linux # mount/umount of each box's tmpfs, setpriv
      pkgs.keyutils # keyctl: a box user's keyrings are cleared after each run
      pkgs.iproute2 # ip: networked boxes' namespaces and veth pairs
      pkgs.nftables # nft: what networked boxes may reach
    ];
    pathsToLink = [ "/bin" ];
  };

  # nixpkgs' isolate reads its configuration from $ISOLATE_CONFIG_FILE. The agent
  # rewrites it at start-up (cgroup root, box count); these are isolate's defaults.
  isolateConfig = pkgs.writeText "isolate.cf" ''
    box_root = /var/local/lib/isolate
    lock_root = /run/isolate/locks
    cg_root = /run/isolate/cgroup
    first_uid = 60000
    first_gid = 60000
    num_boxes = 1000
    restricted_init = 0
  '';

  # Single-user Nix as root, no daemon, but builds (and the setup hooks of
  # Runtime packages, which the agent runs as a derivation) as the nixbld
  # build users in Nix's sandbox, never as root and never unsandboxed. No
  # default substituter: the agent passes the chart's (ENVICUTOR_NIX_SUBSTITUTERS).
  # The agent forces sandbox, sandbox-fallback and build-users-group on every
  # nix-build as well.
  nixConf = pkgs.writeText "nix.conf" ''
    build-users-group = nixbld
    sandbox = true
    sandbox-fallback = false
    substituters =
    experimental-features = nix-command
  '';

  # root and nobody, plus Nix's build users (uids 30001-30032, group nixbld 30000).
  buildUsers = builtins.genList (i: i + 1) 32;
  nss = dockerTools.fakeNss.override {
    extraPasswdLines = map (
      i: "nixbld${toString i}:x:${toString (30000 + i)}:30000:Nix build user ${toString i}:/var/empty:/bin/false"
    ) buildUsers;
    extraGroupLines = [
      "nixbld:x:30000:${lib.concatMapStringsSep "," (i: "nixbld${toString i}") buildUsers}"
    ];
  };

  # Linked into the image's root (/bin, /etc/passwd, /etc/ssl).
  rootContents = [
    agentEnv
    nss
    dockerTools.caCertificates
  ];
  # Store paths the agent needs once the host's /nix is mounted over the image's:
  # the above and the nixpkgs tree NIX_PATH names (referenced, not linked into /).
  closure = pkgs.closureInfo { rootPaths = rootContents ++ [ nixpkgs ]; };

  seedHostStore = pkgs.writeShellApplication {
    name = "envicutor-seed-host-store";
    runtimeInputs = [
      pkgs.coreutils
      pkgs.nix
    ];
    text = ''
      # Usage: envicutor-seed-host-store ROOT   (the host's /nix mounted at ROOT/nix)
      root="''${1:?usage: envicutor-seed-host-store ROOT}"
      mkdir -p "$root/nix/store" "$root/nix/var/nix/gcroots"
      copied=0
      while read -r path; do
        [ -e "$root$path" ] && continue
        # Copy beside, then rename: an interrupted copy never looks complete.
        tmp="$(mktemp -d "$root/nix/store/.envicutor-seed.XXXXXX")"
        cp -a "$path" "$tmp/"
        mv "$tmp/$(basename "$path")" "$root$path"
        rmdir "$tmp"
        copied=$((copied + 1))
      done < ${closure}/store-paths
      # Valid paths in the host's database (already-valid ones are left as they are).
      nix-store --store "$root" --load-db < ${closure}/registration
      # A GC root, so collecting Runtimes never collects the agent itself.
      ln -sfn ${agentEnv} "$root/nix/var/nix/gcroots/envicutor-agent"
      echo "seeded $root/nix: $copied of $(wc -l < ${closure}/store-paths) store paths copied"
    '';
  };
in
dockerTools.buildLayeredImage {
  inherit name tag;
  contents = rootContents ++ [ seedHostStore ];
  # Real files (not store symlinks): the agent rewrites isolate's configuration.
  extraCommands = ''
    mkdir -p etc/nix tmp var/tmp root run var/lib/envicutor var/local/lib/isolate
    chmod 1777 tmp var/tmp
    cp ${isolateConfig} etc/isolate
    cp ${nixConf} etc/nix/nix.conf
    chmod 644 etc/isolate etc/nix/nix.conf
  '';
  config = {
    Entrypoint = [
      (lib.getExe nodejs)
      "dist/agent/main.js"
    ];
    WorkingDir = "${envicutor}/lib/envicutor";
    Env = [
      "PATH=/bin"
      "HOME=/root"
      "USER=root"
      "NODE_ENV=production"
      "NIX_PATH=nixpkgs=${nixpkgs}"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "NIX_SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
      "ISOLATE_CONFIG_FILE=/etc/isolate"
      "ENVICUTOR_ISOLATE_CONFIG=/etc/isolate"
      "ENVICUTOR_ISOLATE_BIN=isolate"
    ];
    ExposedPorts."8081/tcp" = { };
    Labels = {
      "org.opencontainers.image.title" = "envicutor-agent";
      "org.opencontainers.image.version" = envicutor.version;
      "org.opencontainers.image.licenses" = "MIT";
    };
  };
}
