// Leaflet plugins (Leaflet-Geoman) extend the global ``L``: expose the bundled Leaflet first.
import L from "leaflet";

window.L = L;
export default L;
