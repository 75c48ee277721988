# Gateway image (src/gateway): the controller image's contents, started as the gateway; runs as an
# unprivileged user on a read-only root file system (the chart mounts /tmp).
#
#   nix-build nix/images/gateway.nix && docker load < result
{
  pkgs ? import <nixpkgs> { },
  envicutor ? import ../default.nix { inherit pkgs nodejs; },
  nodejs ? pkgs.nodejs_24,
  name ? "ghcr.io/envicutor/envicutor-gateway",
  tag ? envicutor.version,
}:
pkgs.dockerTools.buildLayeredImage {
  inherit name tag;
  contents = [
    pkgs.dockerTools.caCertificates
    pkgs.dockerTools.fakeNss
  ];
  extraCommands = ''
    mkdir -m 1777 tmp
  '';
  config = {
    Entrypoint = [
      (pkgs.lib.getExe nodejs)
      "dist/gateway/main.js"
    ];
    WorkingDir = "${envicutor}/lib/envicutor";
    User = "65532:65532";
    Env = [
      "NODE_ENV=production"
      "SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt"
    ];
    ExposedPorts."2358/tcp" = { };
    ExposedPorts."8082/tcp" = { };
    Labels = {
      "org.opencontainers.image.title" = "envicutor-gateway";
      "org.opencontainers.image.version" = envicutor.version;
      "org.opencontainers.image.licenses" = "MIT";
    };
  };
}
