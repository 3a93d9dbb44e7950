import { startDevicePage } from './device_page.js';

startDevicePage().catch((error: Error) => {
  const status = document.getElementById('status');
  if (status) status.textContent = `The device page cannot start: ${error.message}`;
});
