import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API to a gateway on 127.0.0.1:8080 (`ixo run gateway`);
// the production build is served by the gateway itself at `/` (producers/gateway/_web.py).
const gateway = process.env.IXO_GATEWAY_URL ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: true,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    host: "127.0.0.1",
    proxy: { "/v1": { target: gateway, changeOrigin: false } },
  },
});
