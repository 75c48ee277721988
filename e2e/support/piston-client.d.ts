// piston-client (npm) ships no types: the part of its API the gateway tests use.
declare module "piston-client" {
  interface PistonStage {
    stdout: string;
    stderr: string;
    output: string;
    code: number | null;
    signal: string | null;
    status?: string | null;
    message?: string | null;
  }
  interface PistonResult {
    language: string;
    version: string;
    run: PistonStage;
    compile?: PistonStage;
    message?: string;
  }
  interface PistonClient {
    runtimes(): Promise<{ language: string; version: string; aliases: string[]; runtime?: string }[]>;
    execute(
      language: string,
      code: string,
      config?: {
        stdin?: string;
        args?: string[];
        runTimeout?: number;
        compileTimeout?: number;
        version?: string;
      },
    ): Promise<PistonResult>;
  }
  export function piston(opts?: { server?: string }): PistonClient;
}
