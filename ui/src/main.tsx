import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import App from "./App";
import { follow } from "./socket";
import { useStore } from "./store";
import { projectFromHash } from "./views";
import "./style.css";

const root = document.getElementById("root");
if (root) createRoot(root).render(<StrictMode><App /></StrictMode>);

// The address names the project (#/projects/<id>): open it on load and whenever it changes
// (a link in the project list, the browser's back button).
function openFromHash() {
  const id = projectFromHash(location.hash);
  if (id && id !== useStore.getState().projectId) follow(id);
}
window.addEventListener("hashchange", openFromHash);
window.addEventListener("popstate", openFromHash);
openFromHash();
