# Development shell: Node 24, Go (the e2e control plane and helm are built from
# Go modules), kubectl and helm.   nix-shell nix/shell.nix
{
  pkgs ? import <nixpkgs> { },
}:
pkgs.mkShell {
  packages = with pkgs; [
    nodejs_24
    go
    kubectl
    kubernetes-helm
  ];
  shellHook = ''
    export PATH="$PWD/node_modules/.bin:$PATH"
  '';
}
