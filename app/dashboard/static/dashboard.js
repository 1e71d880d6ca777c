// Copy buttons: <button class="copy" data-copy="input-id">. Without JavaScript the
// read-only field can still be selected and copied by hand.
document.addEventListener("click", async (event) => {
  const button = event.target.closest("button.copy");
  if (!button) return;
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById("copy-status");
  field.select();
  try {
    await navigator.clipboard.writeText(field.value);
  } catch (error) {
    document.execCommand("copy");  // older browsers, or no clipboard permission
  }
  button.textContent = "Copied";
  if (status) status.textContent = "Copied to the clipboard.";
});
