// Bundles each page's entry point (and Leaflet's CSS and images) into dist/.
import { build } from "esbuild";
import { cpSync, mkdirSync, rmSync } from "node:fs";

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist/geoprompt", { recursive: true });

await build({
  entryPoints: { "geoprompt/map": "src/map.js", "geoprompt/app": "src/app.css" },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: ["es2020"],
  outdir: "dist",
  loader: { ".png": "file", ".svg": "file" },
  logLevel: "warning",
});
cpSync("node_modules/leaflet/dist/images", "dist/geoprompt/images", { recursive: true });
console.log("frontend built into dist/");
