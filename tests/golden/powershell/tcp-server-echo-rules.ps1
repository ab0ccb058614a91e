# The program behind socketlab engine e1: a TCP echo server on 127.0.0.1:5000: it sends back what it receives.
# Run it: pwsh e1_echo_server.ps1
# (Stop engine e1 first: only one program at a time can use 127.0.0.1:5000.)
$HostName = '127.0.0.1'
$Port = 5000
$Utf8 = [System.Text.Encoding]::UTF8

# Reply rules, tried on each message before the behavior: the first match answers.
$Rules = @(
    @{ Kind = 'exact'; Pattern = 'ping'; Reply = 'pong #{{counter}}'; Count = 0 }
    @{ Kind = 'contains'; Pattern = 'time'; Reply = 'it is {{time}}'; Count = 0 }
    @{ Kind = 'regex'; Pattern = '^HELLO (\w+)$'; Reply = 'hi {{match}}, you are {{peer}}; it''s "$5" [ok]'; Count = 0 }
)

function Get-RuleReply([string]$message, [string]$peer) {
    $text = $message.TrimEnd("`n").TrimEnd("`r")
    foreach ($rule in $Rules) {
        $found = $null
        switch ($rule.Kind) {
            'exact' { if ($text -ceq $rule.Pattern) { $found = $rule.Pattern } }
            'contains' { if ($text.Contains($rule.Pattern)) { $found = $rule.Pattern } }
            'regex' { $m = [regex]::Match($text, $rule.Pattern); if ($m.Success) { $found = if ($m.Groups.Count -gt 1) { $m.Groups[1].Value } else { $m.Value } } }
        }
        if ($null -eq $found) { continue }
        $rule.Count++
        $now = [DateTime]::UtcNow.ToString('yyyy-MM-ddTHH:mm:ssZ')
        $out = $rule.Reply.Replace('{{peer}}', $peer).Replace('{{time}}', $now)
        $out = $out.Replace('{{counter}}', [string]$rule.Count).Replace('{{match}}', $found)
        if ($message.EndsWith("`n") -and -not $out.EndsWith("`n")) { $out += "`n" }
        return $out
    }
    return $null
}

function Get-Reply([string]$data, [string]$peer) {
    $out = ''
    foreach ($message in [regex]::Split($data, '(?<=\n)')) {
        if ($message -eq '') { continue }
        $answer = Get-RuleReply $message $peer
        if ($null -ne $answer) { $out += $answer; continue }
        $data = $message
        $out += $data
    }
    return $out
}

$listener = [System.Net.Sockets.TcpListener]::new([System.Net.IPAddress]::Parse($HostName), $Port)   # socket(), bind()
$listener.Start(5)                                 # listen()
Write-Host "listening on ${HostName}:$Port"
while ($true) {
    $client = $listener.AcceptTcpClient()          # accept(): a new socket for this client
    $stream = $client.GetStream()
    Write-Host "connection from $($client.Client.RemoteEndPoint)"
    $buffer = New-Object byte[] 1024
    while (($n = $stream.Read($buffer, 0, $buffer.Length)) -gt 0) {   # recv()
        $data = $Utf8.GetString($buffer, 0, $n)
        Write-Host "received $data"
        $reply = Get-Reply $data "$($client.Client.RemoteEndPoint)"
        if ($reply) {
            $bytes = $Utf8.GetBytes($reply)
            $stream.Write($bytes, 0, $bytes.Length)     # send()
        }
    }
    $client.Close()                                 # close()
}
