# The Envicutor package: the TypeScript in src/ compiled by `npm run build` to
# dist/, with its production node_modules, and wrappers for the three programs.
#
#   nix-build nix                       # result/bin/envicutor{,-controller,-agent}
#   nix-build nix --arg pkgs 'import /path/to/nixpkgs {}'
#
# npm dependencies come from package-lock.json through importNpmLock (each
# tarball is fetched by the integrity hash the lock file already records), so
# there is no separate npmDepsHash to keep in sync.
{
  pkgs ? import <nixpkgs> { },
  nodejs ? pkgs.nodejs_24,
}:
let
  inherit (pkgs) lib;
  src = lib.fileset.toSource {
    root = ../.;
    fileset = lib.fileset.unions [
      ../package.json
      ../package-lock.json
      ../tsconfig.json
      ../tsconfig.build.json
      ../src
    ];
  };
in
pkgs.buildNpmPackage {
  pname = "envicutor";
  version = (lib.importJSON ../package.json).version;
  inherit src nodejs;

  npmDeps = pkgs.importNpmLock { npmRoot = src; };
  npmConfigHook = pkgs.importNpmLock.npmConfigHook;
  # The `node` dev dependency pins Node 24 for npm scripts on machines whose Node
  # is older by downloading it in an install script; here nodejs is Node 24, so
  # skip install scripts (nothing the build needs has one) and drop its shim.
  npmRebuildFlags = [ "--ignore-scripts" ];
  preBuild = ''
    rm -f node_modules/.bin/node
  '';
  npmBuildScript = "build";

  nativeBuildInputs = [ pkgs.makeWrapper ];

  # npm pack would leave dist/ out (it is git-ignored), so install by hand.
  installPhase = ''
    runHook preInstall
    npm prune --omit=dev --no-save --ignore-scripts
    mkdir -p $out/lib/envicutor $out/bin
    cp -r dist package.json node_modules $out/lib/envicutor/
    for prog in controller agent cli; do
      name=envicutor-$prog
      [ $prog = cli ] && name=envicutor
      makeWrapper ${lib.getExe nodejs} $out/bin/$name \
        --add-flags $out/lib/envicutor/dist/$prog/main.js
    done
    runHook postInstall
  '';

  meta = {
    description = "Kubernetes-native sandboxed code execution: Runtimes installed with Nix, Executions run in isolate";
    license = lib.licenses.mit;
    mainProgram = "envicutor";
    platforms = lib.platforms.linux;
  };
}
