// The join page: the class code (from the link) and a display name make a workspace; the
// answer sets the socketlab_ws cookie, then the dashboard opens.

import { api } from './api.js';

const form = document.getElementById('join');
const error = form.querySelector('.form-error');
form.addEventListener('submit', async (e) => {
  e.preventDefault();
  error.textContent = '';
  const button = form.querySelector('button');
  button.disabled = true;
  try {
    await api('POST', '/api/join', { code: form.dataset.code, name: form.elements.name.value });
    location.replace('/');
  } catch (err) {
    // Joined but not yet on disk (a full disk): the workspace is live and the dashboard
    // shows the banner until a save succeeds.
    if (err.code === 'not_saved') {
      location.replace('/');
      return;
    }
    // The field is this form's one input: its name in front of the message says nothing.
    const field = err.body?.error?.field;
    error.textContent = field ? err.message.replace(`field ${field}: `, '') : err.message;
    // A name taken already: the server suggests a free one; offer it, ready to send.
    const suggestion = err.body?.error?.suggestion;
    if (err.code === 'name_taken' && suggestion && form.elements.name.type !== 'hidden') {
      form.elements.name.value = suggestion;
      form.elements.name.select();
    }
    button.disabled = false;
  }
});
