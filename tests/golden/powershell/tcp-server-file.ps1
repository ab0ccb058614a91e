# The program behind socketlab engine e1: a TCP file server on 127.0.0.1:5000: it sends a file to each client, then closes.
# Run it: pwsh e1_file_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
# It sends the file "lecture notes.txt": download it into this folder first (socketlab's Files panel).
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8
$FileName = 'lecture notes.txt'

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
while ($true) {
    $client = $listener.AcceptTcpClient()          # accept(): a new socket for this client
    $stream = $client.GetStream()
    Write-Host "connection from $($client.Client.RemoteEndPoint)"
    $file = [System.IO.File]::OpenRead((Join-Path $PWD $FileName))
    $file.CopyTo($stream)                           # send() the file, as it is read
    $file.Close()
    Write-Host "sent $FileName SHA-256 $((Get-FileHash $FileName -Algorithm SHA256).Hash.ToLower())"
    $client.Close()                                 # close()
}
