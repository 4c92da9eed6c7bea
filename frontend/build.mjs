// Bundles each page's entry point (and Leaflet's and Geoman's CSS and images) into dist/.
import { build } from "esbuild";
import { cpSync, mkdirSync } from "node:fs";

// No rmSync: several builds may run side by side; esbuild overwrites each bundle in place.
mkdirSync("dist/geoprompt", { recursive: true });

await build({
  entryPoints: {
    "geoprompt/app": "src/app.css",
    "geoprompt/project": "src/project.js",
    "geoprompt/annotate": "src/annotate/main.js",
    "geoprompt/review": "src/review.js",
    "geoprompt/dashboard": "src/dashboard.js",
    "geoprompt/exports": "src/exports.js",
    "geoprompt/projects": "src/projects.js",
    "geoprompt/users": "src/users.js",
    "geoprompt/tasks": "src/tasks.js",
  },
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
