import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import App from "./App";
import { follow } from "./socket";
import "./style.css";

const root = document.getElementById("root");
if (root) createRoot(root).render(<StrictMode><App /></StrictMode>);

const fromHash = decodeURIComponent(location.hash.slice(1));
if (/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/.test(fromHash)) follow(fromHash);
